from revaer_actors.cli import main

main()

"""revaer-actors: a BitTorrent daemon built as an actor system on libtorrent."""

__version__ = "0.1.0"

"""Django backends for the embedded development services (nyxsync.embedded): each starts its
server the first time a process uses it, so that loading the settings starts nothing."""

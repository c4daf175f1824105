"""The gate API used by lane agents: entry/exit events, heartbeats, offline cache, lane commands."""

"""Feeds: specs and rendering (Atom, RSS, JSON Feed, OPML), the build, the only file writer, WebSub."""

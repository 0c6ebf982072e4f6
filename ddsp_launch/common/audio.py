"""The recording formats ddsp-launch reads (libsndfile decodes them; `prepare` and
`transfer` read them, the launcher and the web interface accept them)."""

EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")

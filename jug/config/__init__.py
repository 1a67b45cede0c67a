"""Configuration: the options every command declares, the config files (jugrc, project and
user files) they are read from, and which of those files jug may trust."""

"""The command lines: each module parses one command's settings, calls the library and prints; `tlm` and the
scripts in train/ are these commands under other names."""

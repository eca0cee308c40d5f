"""The command layer: runs commands in one transaction each; knows no HTTP."""

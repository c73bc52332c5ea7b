"""Slurm over a CommandRunner: typed models, delimited-text parsers and command builders."""

"""suan's core: site data, identity, SSH sessions, Slurm and storage. Never imports textual."""

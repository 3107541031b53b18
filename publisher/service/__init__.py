"""The service: the daemon, its scheduler, systemd notification and logging."""

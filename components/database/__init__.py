"""The MySQL/MariaDB server Rainbond's console and region use."""

from .component import CONSOLE_DATABASE, REGION_DATABASE, Database

__all__ = ["CONSOLE_DATABASE", "REGION_DATABASE", "Database"]

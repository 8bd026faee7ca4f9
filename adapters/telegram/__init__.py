"""The Telegram adapter (aiogram 3): ``TelegramAdapter`` maps updates to core ``Incoming`` and
renders ``Reply`` as Telegram messages. See ``app.py``."""

from adapters.telegram.app import TelegramAdapter

__all__ = ["TelegramAdapter"]

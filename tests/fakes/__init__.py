"""Fakes of the outside world (Telegram Bot API, Bitrix24) for end-to-end tests."""

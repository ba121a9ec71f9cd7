"""The Telegram channel: people ask in private chats, operators answer in forum topics.

Nothing is imported here, so that the channel's settings (``handlers.telegram.settings``) load
without aiogram; ``handlers.telegram.channel`` runs the channel.
"""

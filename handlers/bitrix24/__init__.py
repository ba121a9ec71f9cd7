"""The Bitrix24 Open Lines channel: events in (fetch or webhook), engine, BB-code replies out.

Nothing is imported here: the migrations import the channel's tables (``models``) and the light
commands its settings without loading its REST client or web routes; import the module you need
(``handlers.bitrix24.web`` mounts the channel, ``handlers.bitrix24.channel`` runs it).
"""

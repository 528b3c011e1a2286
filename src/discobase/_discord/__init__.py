"""Discord's facts and rules shared by the ORM's storage layer and the local server.

Permission bits and their computation, snowflakes, channel-name rules. This
package imports nothing of discobase, so ``storage/`` and ``local/`` can both
depend on it without depending on each other.
"""

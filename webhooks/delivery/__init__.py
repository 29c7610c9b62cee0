"""The delivery pipeline: build the message, sign it, check the recipient, send. Recording
the result is the lifecycle's (``webhooks.lifecycle``).

Test events and real events walk the same steps; each step lives in its own module.
"""

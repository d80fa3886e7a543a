"""A generation's events, from Redis to one client, in order:

    Redis pub/sub ──▶ hub.py ──▶ relay.py ──▶ response.py ──▶ the client
    (live channel)    one shared     one request's      the dialect's Reply frames it
                      connection,    events: in order,  (SSE, NDJSON) or collects the
                      fanned out     gaps filled from   whole answer; first-byte errors
                      to requests    the replay log,    become statuses, a client that
                                     every wait bounded leaves is noticed

The contract they read (event numbering, the replay log, the live message) is
shared/stream.py; the names of the channels and logs are shared/keys.py.
"""

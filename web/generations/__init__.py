"""A generation's life on the web side: submit it (submit.py), watch who is attached to its
stream (presence.py), and cancel or abandon it (cancel.py)."""

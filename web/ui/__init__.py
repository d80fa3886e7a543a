"""`/ui`: a page to use the API from a browser, served by the API process itself.

Plain HTML, CSS and JavaScript modules in `static/` (no build step, nothing from another origin):
a playground (`playground.js`: a prompt streamed through OpenAI's chat endpoint, its place in the
queue, stop, and resume after a lost connection or a reload) and an operator view
(`operator.js`: the queue, workers, recent generations, keys). The page holds no authority of its
own: it calls the same API as every client, with the key pasted into it, kept in the tab's
session storage only.
"""

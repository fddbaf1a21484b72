"""The investigators' console: server-rendered pages for the people who work cases (issue 16).

Pure modules (no boto3): ``roles`` (who may see and do what), ``principal`` (who is asking, from the HTTP
API's JWT claims or the local endpoint's role picker), ``markup`` (escaping and the page layout),
``protection`` (CSRF, security headers). ``sources`` builds the data-access objects from the function's
environment; ``pages/`` renders each page. The handler is ``functions/console/app.py``.
"""

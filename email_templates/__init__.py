"""OSA's email templates, one pair per kind of email: `<kind>.txt` (the subject on its first
line, then the text part) and `<kind>.html` (extending `base.html`), written in English with
every sentence in `_()`. `service.mail.render` renders them in the recipient's language; this
file only makes the folder part of an installed OSA.
"""

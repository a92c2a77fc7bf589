"""Where things are and how to reach them: endpoint settings, secrets, aliases and services.

Files live under the bucketvault home (`$BUCKETVAULT_HOME`, default
`~/.config/bucketvault`); any file holding a secret is written with mode 0600.
"""

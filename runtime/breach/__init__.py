"""Breach response (P12), computed from the audit trail (P14).

Pure logic: scope, chain_window, impact, content, outbox, deadline, incident, response (the procedure over
ports), report. Adapters: trail, directory, store (Postgres), notifiers (file), aws (SES, SNS), scratch
(the drill's database), wiring (from the container environment). The drill: drill, synthetic.
"""

"""Tracking: what comes back after a letter is sent (bounces, replies, auto-replies, unsubscribes).

One pipeline behind every inbound path (the SMTP/LMTP endpoint, the development capture server, the
ESP webhook): `intake.store_inbound` keeps the raw bytes first (one row per Message-ID, so a
redelivery is a no-op) and defers the `process_inbound` job; `process.process_inbound` classifies
the message (`classify`), finds the delivery it is about (`matching`) and applies what it means
(`effects`: delivery state, the contact's bounce flag and score).
"""

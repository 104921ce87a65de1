"""How gunicorn serves curator, in one place: the Dockerfile and docker-compose start
`gunicorn -c python:curator.gunicorn_conf curator.wsgi`, and the labeling bench reads the
keep-alive from here for both checkouts it compares."""

bind = "0.0.0.0:8000"
workers = 4
threads = 4
# Gunicorn's default keep-alive is 2 s: an annotator's page asks every few seconds, and a new
# connection per label put a paced load's p99 at 540 ms instead of 180 (bench `labeling`).
keepalive = 75

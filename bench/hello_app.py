"""The baseline for bench/rsvp_http.py: the smallest Flask app, served by the same gunicorn."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, World!"

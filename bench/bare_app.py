"""The reference for the ingestion benchmark: a bare Flask endpoint that parses a JSON body and
answers 202, served by the same gunicorn settings as the product."""

from flask import Flask, request

app = Flask(__name__)


@app.post("/api/v1/events")
def events():
    payload = request.get_json()
    return {"id": "evt_bare", "type": payload["type"], "deliveries": 0}, 202

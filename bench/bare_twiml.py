"""The baseline for bench_webhooks.py: a FastAPI endpoint that does nothing but answer empty TwiML."""

from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/webhooks/twilio/messages")
async def inbound(request: Request) -> Response:
    await request.body()
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response/>', media_type="text/xml")

"""The PDF renderer fetches nothing: no local files, no network, only what is embedded."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from weasyprint import HTML

from dsr.exports.pdf import EmbeddedOnlyFetcher, ResourceRefused
from tests.exports_support import pdf_text


def test_the_pdf_fetcher_refuses_files_and_the_network_and_allows_embedded_data():
    fetcher = EmbeddedOnlyFetcher()
    for url in (
        "file:///etc/passwd",
        "FILE:///etc/hostname",
        "http://127.0.0.1:9/style.css",
        "https://example.com/logo.png",
        "ftp://example.com/x",
    ):
        with pytest.raises(ResourceRefused):
            fetcher.fetch(url)
    response = fetcher.fetch("data:text/plain;base64,aGVq")
    assert response.read() == b"hej"


def test_rendering_a_document_that_points_outside_reads_nothing_there(tmp_path):
    hits = []

    class Counter(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.end_headers()
            self.wfile.write(b"body { color: red }")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not for the pdf")
    refused = []

    class Watching(EmbeddedOnlyFetcher):
        def fetch(self, url, headers=None):
            try:
                return super().fetch(url, headers)
            except ResourceRefused:
                refused.append(url)
                raise

    try:
        port = server.server_address[1]
        html = f"""<html><head>
            <link rel="stylesheet" href="http://127.0.0.1:{port}/a.css">
            <style>@import url("https://127.0.0.1:{port}/b.css");</style></head>
            <body><img src="file://{secret}"><img src="http://127.0.0.1:{port}/c.png">
            <p>Åsa</p></body></html>"""
        pdf = HTML(string=html, url_fetcher=Watching()).write_pdf()
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []
    assert f"file://{secret}" in refused and any(u.startswith("http://") for u in refused)
    assert "Åsa" in pdf_text(pdf)

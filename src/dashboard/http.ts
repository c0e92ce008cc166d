/** Small helpers over node:http: send JSON, HTML or a file's text, and read a bounded body. */

import type { IncomingMessage, ServerResponse } from "node:http";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(body));
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  send(res, status, "text/html; charset=utf-8", html);
}

export function send(res: ServerResponse, status: number, type: string, text: string): void {
  const body = Buffer.from(text);
  res.writeHead(status, { "Content-Type": type, "Content-Length": body.length });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

/** Bytes as a download: never shown by the browser as a page. */
export function sendBytes(res: ServerResponse, bytes: Uint8Array): void {
  res.writeHead(200, {
    "Content-Type": "application/octet-stream",
    "Content-Disposition": "attachment",
    "Content-Length": bytes.byteLength,
  });
  res.end(res.req.method === "HEAD" ? undefined : bytes);
}

export function redirect(res: ServerResponse, location: string, headers: Record<string, string> = {}): void {
  res.writeHead(303, { Location: location, ...headers });
  res.end();
}

/** The request body as text, refused (413) past `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, "request body too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** True when the client asked for JSON or called /api, so errors answer in JSON. */
export function wantsJson(req: IncomingMessage, pathname: string): boolean {
  return pathname.startsWith("/api/") || (req.headers.accept ?? "").includes("application/json");
}

// HTTP helpers shared by the benchmarks that drive the Graph API simulator and the services.

/** Returns whether a GET of `url` returned 2xx, and false when the connection failed. */
export async function fetchOk(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

/** POSTs `body` as JSON and throws with the status and response body unless it was 2xx. */
export async function postJson(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(`POST ${url} failed with HTTP ${response.status}: ${await response.text()}`);
  }
}

// The one way the console talks to the API: relative to the page, so it works under a stage prefix.
const KEY = "blockhook.apiKey";
const BASE = new URL("../v1/", location.href);

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

let onSignedOut = () => {};

export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export function savedKey() {
  return sessionStorage.getItem(KEY);
}

export function signOut(message) {
  sessionStorage.removeItem(KEY);
  onSignedOut(message || null);
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

async function request(method, path, body, key) {
  const headers = { "x-api-key": key || "" };
  if (body !== undefined) headers["content-type"] = "application/json";
  let answer;
  try {
    answer = await fetch(new URL(path, BASE), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (failure) {
    throw new ApiError(0, "network", `The API did not answer (${failure.message}).`);
  }
  const text = await answer.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!answer.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      answer.status,
      error.code || `http_${answer.status}`,
      error.message || `The API answered ${answer.status}.`,
      error.details,
    );
  }
  return data;
}

// Checks a key before keeping it: a wrong key is refused with the API's own message.
export async function signIn(key) {
  await request("GET", "monitors?limit=1", undefined, key);
  sessionStorage.setItem(KEY, key);
}

export async function api(method, path, body) {
  try {
    return await request(method, path, body, savedKey());
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      signOut(`Signed out: the API refused the key (${error.message}).`);
    }
    throw error;
  }
}

export const monitorPath = (id, rest = "") => `monitors/${encodeURIComponent(id)}${rest}`;

// The Content-Security-Policy for every page of the app, in Electron (as a
// response header on app://) and from the web host. Scripts only from the
// app itself; the API socket only on loopback; nothing framed, no plugins.
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self' ws://127.0.0.1:*; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

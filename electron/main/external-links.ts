// Which links may leave the app for the system browser. The app links to
// nothing outside itself today, so the list is empty and every request to
// open a window is refused; a link added to the UI must be added here too,
// by its exact address. Anything else (a URL from a node, an error message,
// a compromised page) never reaches shell.openExternal.
export const EXTERNAL_LINKS: readonly string[] = [];

export function mayOpenExternally(url: string, allowed: readonly string[] = EXTERNAL_LINKS): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  return parsed.protocol === "https:" && allowed.includes(parsed.href);
}

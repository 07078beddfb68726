// One user action at a time: which one is running, and the error it ended
// with (a sentence from main), shared by the forms and dialogs.
import { useCallback, useState } from "react";
import { errorMessage } from "../lib/format";

export function useAction<K extends string = "busy">() {
  const [busy, setBusy] = useState<K | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(async (fn: () => Promise<unknown>, what?: K) => {
    setBusy(what ?? ("busy" as K));
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  }, []);
  return { busy, pending: busy !== null, error, setError, run };
}

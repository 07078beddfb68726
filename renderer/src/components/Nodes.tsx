// Nodes: the sidebar list, the status panel for one node (with the next
// step for each failure), the host-key dialogs and the key passphrase dialog.
import { memo, useState, type FormEvent } from "react";
import type { NodeView, SetPassphraseResponse } from "../../../shared/ipc/contract";
import { DiskPathAllowSchema, type NodeStatus } from "../../../shared/node-registry/schema";
import { useApi } from "../state/api-context";
import { useAction } from "../state/use-action";
import { useAppInfo } from "../state/hooks";
import { nodeStateText, timeOfDay, until } from "../lib/format";
import { Dialog } from "./Dialog";

export const NodeStateBadge = memo(function NodeStateBadge({ status, now }: { status: NodeStatus; now: number }) {
  const t = nodeStateText(status, now);
  return (
    <span className={`badge tone-${t.tone}`} data-state={status.state}>
      <span aria-hidden="true">{t.icon}</span> {t.label}
    </span>
  );
});

export function NodeList(props: {
  nodes: NodeView[];
  counts: Map<string, number>;
  selected: string | null;
  onSelect: (id: string | null) => void;
  now: number;
}) {
  return (
    <ul className="node-list" aria-label="Nodes">
      {props.nodes.map((n) => (
        <li key={n.config.id}>
          <button
            type="button"
            className={props.selected === n.config.id ? "node-item selected" : "node-item"}
            aria-current={props.selected === n.config.id ? "true" : undefined}
            onClick={() => props.onSelect(n.config.id)}
          >
            <span className="node-name">{n.config.name}</span>
            <span className="node-host">
              {n.config.user}@{n.config.host}
              {n.config.port !== 22 ? `:${n.config.port}` : ""}
            </span>
            <span className="node-meta">
              <NodeStateBadge status={n.status} now={props.now} />
              <span className="count" title="Instances">
                {props.counts.get(n.config.id) ?? 0} inst.
              </span>
            </span>
          </button>
        </li>
      ))}
    </ul>
  );
}

/** Where disks may also come from on the node, beyond its Ganeti storage: shown, and changed in place. */
function DiskPathAllow(props: { node: NodeView; onChanged: () => void }) {
  const api = useApi();
  const { config } = props.node;
  const shown = (config.diskPathAllow ?? []).join(", ");
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(shown);
  const { pending, error, run } = useAction();
  const paths = text.trim() ? text.trim().split(/[\s,]+/) : [];
  const invalid = DiskPathAllowSchema.safeParse(paths);
  const problem = invalid.success ? null : (invalid.error.issues[0]?.message ?? "not a list of paths");
  const save = (e: FormEvent) => {
    e.preventDefault();
    if (problem) return;
    void run(async () => {
      await api.call("nodes.setDiskPathAllow", { nodeId: config.id, paths });
      setEditing(false);
      props.onChanged();
    });
  };
  if (!editing) {
    return (
      <p className="muted disk-path-allow">
        Disks come from the node&apos;s Ganeti storage{shown ? `, and from ${shown}` : ""}.{" "}
        <button type="button" className="link small" onClick={() => (setText(shown), setEditing(true))}>
          Change where disks may come from…
        </button>
      </p>
    );
  }
  return (
    <form className="disk-path-allow" onSubmit={save} aria-label={`Disk paths allowed on ${config.name}`}>
      <label htmlFor={`dpa-${config.id}`}>Disk paths allowed beyond the node&apos;s Ganeti storage</label>{" "}
      <input id={`dpa-${config.id}`} value={text} onChange={(e) => setText(e.target.value)} placeholder="/srv/images, /dev/vg1/data" spellCheck={false} aria-invalid={problem !== null} aria-describedby={problem ? `dpa-${config.id}-err` : undefined} />{" "}
      <button type="submit" className="primary" disabled={pending || problem !== null}>
        Save
      </button>{" "}
      <button type="button" onClick={() => setEditing(false)} disabled={pending}>
        Cancel
      </button>
      {problem || error ? (
        <div className="field-error" id={`dpa-${config.id}-err`} role="alert">
          {problem ?? error}
        </div>
      ) : null}
    </form>
  );
}

/** What the user can do next about a node that is not ready. */
export function NodePanel(props: { node: NodeView; now: number; onRemoved: () => void; onChanged?: () => void }) {
  const api = useApi();
  const { config, status } = props.node;
  const { busy, error, run: act } = useAction<string>();
  const [keyDialog, setKeyDialog] = useState(false);
  const [passphraseDialog, setPassphraseDialog] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [confirmRemove, setConfirmRemove] = useState(false);

  const run = (what: string, fn: () => Promise<unknown>) => {
    setNotice(null);
    return act(fn, what);
  };

  const hk = status.hostKey;
  return (
    <section className={`node-panel tone-${nodeStateText(status, props.now).tone}`} aria-label={`Node ${config.name}`}>
      <div className="node-panel-head">
        <h2>{config.name}</h2>
        <span className="muted">
          {config.user}@{config.host}:{config.port} · root {config.root} · {config.auth.kind === "agent" ? "ssh-agent" : config.auth.keyPath}
          {config.ganetiVersion ? ` · Ganeti ${config.ganetiVersion}` : ""}
          {config.proxyJump ? ` · via ${config.proxyJump}` : config.proxyCommand ? ` · via ProxyCommand ${config.proxyCommand}` : ""}
        </span>
        <NodeStateBadge status={status} now={props.now} />
        <span className="spacer" />
        {status.state !== "ready" && status.state !== "connecting" && !hk ? (
          <button type="button" onClick={() => run("connect", () => api.call("nodes.connect", { nodeId: config.id }))} disabled={busy !== null}>
            {busy === "connect" ? "Connecting…" : "Connect now"}
          </button>
        ) : null}
        {status.needs === "passphrase" ? (
          <button type="button" className="primary" onClick={() => setPassphraseDialog(true)}>
            Enter passphrase…
          </button>
        ) : null}
        {config.auth.kind === "key" && props.node.passphraseKept ? (
          <button
            type="button"
            title="Forget the key file's passphrase if one is kept (for this run and in the system keychain); it is asked for at the next connection."
            onClick={() =>
              run("forget", async () => {
                await api.call("nodes.forgetPassphrase", { nodeId: config.id });
                setNotice("Any passphrase kept for this node's key file is forgotten.");
              })
            }
            disabled={busy !== null}
          >
            Forget passphrase
          </button>
        ) : null}
        {hk ? (
          <button type="button" className={hk.verdict === "unknown" ? "primary" : ""} onClick={() => setKeyDialog(true)}>
            {hk.verdict === "unknown" ? "Review host key…" : "Why was it refused?"}
          </button>
        ) : null}
        <button type="button" onClick={() => setConfirmRemove(true)} disabled={busy !== null}>
          Remove node
        </button>
      </div>
      <DiskPathAllow node={props.node} onChanged={props.onChanged ?? (() => undefined)} />
      {status.state !== "ready" && (status.detail || status.retryAt) ? (
        <p className="node-detail" role="status">
          {status.detail}
          {status.state === "backing-off" && status.retryAt
            ? ` Next attempt ${until(status.retryAt, props.now)} (${timeOfDay(status.retryAt)})${status.attempt ? `, after ${status.attempt} failed attempt${status.attempt > 1 ? "s" : ""}` : ""}.`
            : ""}
        </p>
      ) : null}
      {error ? (
        <div className="banner bad" role="alert">
          {error}
        </div>
      ) : null}
      {notice ? (
        <div className="banner info" role="status">
          {notice}
        </div>
      ) : null}
      {keyDialog && hk ? <HostKeyDialog node={props.node} onClose={() => setKeyDialog(false)} /> : null}
      {passphraseDialog && config.auth.kind === "key" ? (
        <PassphraseDialog
          node={props.node}
          onClose={() => setPassphraseDialog(false)}
          onDone={(r, askedToRemember) => {
            setPassphraseDialog(false);
            setNotice(
              r.remembered
                ? "The passphrase is remembered in the system keychain."
                : askedToRemember && r.rememberReason
                  ? `The passphrase is kept until the app quits; it was not remembered in the keychain: ${r.rememberReason}`
                  : "The passphrase is kept until the app quits.",
            );
          }}
        />
      ) : null}
      {confirmRemove ? (
        <Dialog
          title={`Remove ${config.name}?`}
          onClose={() => setConfirmRemove(false)}
          footer={
            <>
              <button type="button" onClick={() => setConfirmRemove(false)}>
                Keep it
              </button>
              <button
                type="button"
                className="danger"
                onClick={() =>
                  run("remove", async () => {
                    await api.call("nodes.remove", { nodeId: config.id });
                    setConfirmRemove(false);
                    props.onRemoved();
                  })
                }
              >
                Remove node
              </button>
            </>
          }
        >
          <p>The app forgets this node's settings. Nothing on the node changes.</p>
        </Dialog>
      ) : null}
    </section>
  );
}

/**
 * Asks for the passphrase of the node's encrypted key file. It is sent to
 * main once and never kept in the page; the field is cleared after a wrong one.
 */
export function PassphraseDialog(props: { node: NodeView; onClose: () => void; onDone: (r: SetPassphraseResponse, askedToRemember: boolean) => void }) {
  const api = useApi();
  const info = useAppInfo();
  const { config } = props.node;
  const [passphrase, setPassphrase] = useState("");
  const [remember, setRemember] = useState(false);
  const { pending: busy, error, setError, run } = useAction();
  const storage = info.data?.secretStorage;
  const canRemember = storage?.available === true;
  const keyPath = config.auth.kind === "key" ? config.auth.keyPath : "";
  const formId = `passphrase-${config.id}`;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (passphrase === "" || busy) return;
    await run(async () => {
      const asked = remember && canRemember;
      const r = await api.call("nodes.setPassphrase", { nodeId: config.id, passphrase, remember: asked });
      setPassphrase("");
      if (r.status.needs === "passphrase") setError(r.status.detail ?? "The passphrase is wrong: it does not open the key file.");
      else props.onDone(r, asked);
    });
  };

  return (
    <Dialog
      title={`Passphrase for ${config.name}`}
      onClose={props.onClose}
      closable={!busy}
      testId="passphrase-dialog"
      footer={
        <>
          <button type="button" onClick={props.onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" form={formId} className="primary" disabled={busy || passphrase === ""}>
            {busy ? "Connecting…" : "Unlock and connect"}
          </button>
        </>
      }
    >
      <form id={formId} onSubmit={submit} autoComplete="off">
        <p>
          The key file <code>{keyPath}</code> is encrypted. Its passphrase is kept in the app's memory for this run and never written in plain text.
        </p>
        <div className="field">
          <label htmlFor={`${formId}-input`}>Passphrase</label>
          <input
            id={`${formId}-input`}
            type="password"
            autoComplete="off"
            spellCheck={false}
            autoFocus
            maxLength={1024}
            value={passphrase}
            onChange={(e) => setPassphrase(e.target.value)}
            disabled={busy}
          />
        </div>
        <label className="radio">
          <input type="checkbox" checked={remember && canRemember} disabled={!canRemember || busy} onChange={(e) => setRemember(e.target.checked)} /> Remember in the system keychain
        </label>
        <div className="field-hint">
          {canRemember
            ? "Encrypted by the OS keychain and used again at the next start. Unticked, it is remembered until the app quits."
            : info.data
              ? (storage?.reason ?? "No system keychain is available: the passphrase is remembered until the app quits.")
              : "Checking the system keychain…"}
        </div>
      </form>
      {error ? (
        <div className="banner bad" role="alert">
          {error}
        </div>
      ) : null}
    </Dialog>
  );
}

export function HostKeyDialog(props: { node: NodeView; onClose: () => void }) {
  const api = useApi();
  const { config, status } = props.node;
  const hk = status.hostKey;
  const { pending: busy, error, setError, run } = useAction();
  // Set when main asks for the one-time code from its terminal (web host).
  const [codePrompt, setCodePrompt] = useState<string | null>(null);
  const [code, setCode] = useState("");
  if (!hk) return null;
  const where = `${config.host}${config.port !== 22 ? `:${config.port}` : ""}`;
  const formId = `trust-${config.id}`;

  if (hk.verdict === "unknown") {
    // The page only asks; main has the user confirm (its own dialog, or the code from its terminal).
    const trust = (e?: FormEvent) => {
      e?.preventDefault();
      if (busy || (codePrompt !== null && code.trim() === "")) return;
      return run(async () => {
        const r = await api.call("nodes.trustHostKey", { nodeId: config.id, fingerprint: hk.fingerprint, ...(codePrompt !== null ? { code: code.trim() } : {}) });
        setCode("");
        if (r.outcome === "trusted") props.onClose();
        else if (r.outcome === "code-needed") setCodePrompt(r.prompt);
        else setError(r.reason);
      });
    };
    return (
      <Dialog
        title={`Trust the host key of ${config.name}?`}
        onClose={props.onClose}
        testId="host-key-dialog"
        footer={
          <>
            <button type="button" onClick={props.onClose} disabled={busy}>
              Don't trust
            </button>
            <button type="submit" form={formId} className="primary" disabled={busy || (codePrompt !== null && code.trim() === "")}>
              {busy ? "Waiting for your confirmation…" : codePrompt !== null ? "Confirm code and trust" : "Trust and connect"}
            </button>
          </>
        }
      >
        <form id={formId} onSubmit={trust} autoComplete="off">
          <p>
            This is the first connection to <strong>{where}</strong>. Compare the fingerprint below with the node's own (run{" "}
            <code>ssh-keygen -lf /etc/ssh/ssh_host_{hk.keyType.replace(/^ssh-/, "").replace(/^ecdsa-.*/, "ecdsa")}_key.pub</code> on the node) before trusting it.
          </p>
          <dl className="kv">
            <dt>Key type</dt>
            <dd>{hk.keyType}</dd>
            <dt>Fingerprint</dt>
            <dd>
              <code className="fingerprint">{hk.fingerprint}</code>
            </dd>
            {hk.expected ? (
              <>
                <dt>The cluster lists</dt>
                <dd data-testid="expected-host-key">
                  {hk.expected.keyType} <code className="fingerprint">{hk.expected.fingerprint}</code>
                  <div className="small muted">{hk.expected.source}</div>
                </dd>
              </>
            ) : null}
          </dl>
          {hk.expected ? (
            <p className={hk.expected.matches ? "banner info small" : "banner bad small"} data-testid="expected-verdict">
              <span aria-hidden="true">{hk.expected.matches ? "✓ " : "✕ "}</span>
              {hk.expected.matches
                ? "The node presents the key its Ganeti cluster lists for its nodes. Trusting it is still your decision."
                : "The node presents a different key than the one its Ganeti cluster lists. Do not trust it unless you know why they differ."}
            </p>
          ) : null}
          {codePrompt !== null ? (
            <div className="field">
              <label htmlFor={`${formId}-code`}>One-time code</label>
              <input
                id={`${formId}-code`}
                inputMode="numeric"
                autoComplete="one-time-code"
                spellCheck={false}
                autoFocus
                maxLength={32}
                value={code}
                onChange={(e) => setCode(e.target.value)}
                disabled={busy}
              />
              <div className="field-hint">{codePrompt}</div>
            </div>
          ) : null}
        </form>
        {error ? (
          <div className="banner bad" role="alert">
            {error}
          </div>
        ) : null}
      </Dialog>
    );
  }

  return (
    <Dialog
      title={hk.verdict === "changed" ? `Host key of ${config.name} has changed` : `Host key of ${config.name} is revoked`}
      onClose={props.onClose}
      testId="host-key-dialog"
      footer={
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      }
    >
      <div className="banner bad">
        <strong>Refused to connect.</strong>{" "}
        {hk.verdict === "changed"
          ? `${where} presented a different key than the one known_hosts trusts. This happens after a reinstall — or when someone is intercepting the connection.`
          : `${where} presented a key that known_hosts marks as @revoked.`}
      </div>
      <dl className="kv">
        <dt>Presented now</dt>
        <dd>
          <code className="fingerprint">{hk.fingerprint}</code> ({hk.keyType})
        </dd>
        {hk.knownFingerprints && hk.knownFingerprints.length > 0 ? (
          <>
            <dt>Trusted before</dt>
            <dd>
              {hk.knownFingerprints.map((f, i) => (
                <div key={f}>
                  <code className="fingerprint">{f}</code>
                  {hk.knownKeyTypes?.[i] ? ` (${hk.knownKeyTypes[i]})` : null}
                </div>
              ))}
            </dd>
          </>
        ) : null}
        {hk.knownAt && hk.knownAt.length > 0 ? (
          <>
            <dt>known_hosts</dt>
            <dd>
              {hk.knownAt.map((k) => (
                <div key={`${k.file}:${k.line}`}>
                  <code>
                    {k.file}:{k.line}
                  </code>
                </div>
              ))}
            </dd>
          </>
        ) : null}
      </dl>
      <p>
        The app will not replace a trusted key. Check with whoever runs the node that the new key is genuine; then remove the old entry
        {hk.knownAt?.[0] ? (
          <>
            {" "}
            (line {hk.knownAt[0].line} of <code>{hk.knownAt[0].file}</code>, or <code>ssh-keygen -R {config.port === 22 ? config.host : `"[${config.host}]:${config.port}"`}</code>)
          </>
        ) : null}{" "}
        and connect again.
      </p>
    </Dialog>
  );
}

// "Add node": host, port, user, key file or ssh-agent, root, and how the
// node is reached when not directly (ProxyJump or ProxyCommand). Checked with
// the same schema and parsers main uses, so field errors read exactly as main's.
import { useState, type ChangeEvent, type FormEvent, type ReactNode } from "react";
import { AddNodeRequestSchema, type AddNodeRequest } from "../../../shared/node-registry/schema";
import { parseProxyCommand, parseProxyJump } from "../../../shared/node-registry/proxy";
import type { NodeView, SshConfigImportView } from "../../../shared/ipc/contract";
import { useApi } from "../state/api-context";
import { useAction } from "../state/use-action";
import { errorMessage } from "../lib/format";

interface Fields {
  host: string;
  port: string;
  user: string;
  auth: "agent" | "key";
  keyPath: string;
  root: string;
  name: string;
  ganetiVersion: string;
  proxyJump: string;
  proxyCommand: string;
}

const EMPTY: Fields = { host: "", port: "22", user: "root", auth: "agent", keyPath: "", root: "/", name: "", ganetiVersion: "", proxyJump: "", proxyCommand: "" };

/** The request main receives; empty optional fields are left out. */
export function addNodeRequest(f: Fields): AddNodeRequest {
  return {
    host: f.host,
    ...(f.port.trim() ? { port: f.port.trim() } : {}),
    ...(f.user.trim() ? { user: f.user.trim() } : {}),
    ...(f.auth === "key" ? { keyPath: f.keyPath } : { agent: true }),
    ...(f.root.trim() ? { root: f.root.trim() } : {}),
    ...(f.name.trim() ? { name: f.name.trim() } : {}),
    ...(f.ganetiVersion.trim() ? { ganetiVersion: f.ganetiVersion.trim() } : {}),
    ...(f.proxyJump.trim() ? { proxyJump: f.proxyJump.trim() } : {}),
    ...(f.proxyCommand.trim() ? { proxyCommand: f.proxyCommand.trim() } : {}),
  };
}

/** Schema messages by form field ("" for ones that belong to no single field). */
export function fieldErrors(f: Fields): Record<string, string> {
  const r = AddNodeRequestSchema.safeParse(addNodeRequest(f));
  const out: Record<string, string> = {};
  if (r.success) {
    if (f.auth === "key" && !f.keyPath.trim()) out.keyPath = "Key file: give the path of a private key on this computer, or choose ssh-agent.";
    const jump = f.proxyJump.trim() ? parseProxyJump(f.proxyJump) : undefined;
    const command = f.proxyCommand.trim() ? parseProxyCommand(f.proxyCommand) : undefined;
    if (jump && !jump.ok) out.proxyJump = jump.error;
    if (command && !command.ok) out.proxyCommand = command.error;
    if (jump && command) out.proxyCommand = "A jump host and a ProxyCommand are both given: a node is reached through one of them; clear the other.";
    return out;
  }
  for (const iss of r.error.issues) {
    const key = String(iss.path[0] ?? "");
    if (!(key in out)) out[key] = iss.message;
  }
  return out;
}

export function AddNodeForm(props: { onAdded: (n: NodeView) => void; onCancel: () => void }) {
  const api = useApi();
  const [f, setF] = useState<Fields>(EMPTY);
  const [touched, setTouched] = useState<Record<string, boolean>>({});
  const [submitted, setSubmitted] = useState(false);
  const { pending: busy, error: serverError, setError: setServerError, run } = useAction();
  const [sshConfig, setSshConfig] = useState<SshConfigImportView | null>(null);
  const errors = fieldErrors(f);
  const loadSshConfig = async () => {
    try {
      setSshConfig(await api.call("nodes.importSshConfig", {}));
    } catch (err) {
      setServerError(errorMessage(err));
    }
  };
  const useCandidate = (alias: string) => {
    const c = sshConfig?.candidates.find((x) => x.alias === alias);
    if (!c) return;
    setF((old) => ({
      ...old,
      host: c.host,
      port: String(c.port),
      user: c.user ?? old.user,
      auth: c.keyPath ? "key" : "agent",
      keyPath: c.keyPath ?? "",
      name: c.name,
      proxyJump: c.proxyJump ?? "",
      proxyCommand: c.proxyCommand ?? "",
    }));
  };
  const show = (k: string) => (submitted || touched[k]) && errors[k];

  const set = <K extends keyof Fields>(k: K, v: Fields[K]) => setF((old) => ({ ...old, [k]: v }));
  const blur = (k: string) => () => setTouched((t) => ({ ...t, [k]: true }));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSubmitted(true);
    if (Object.keys(errors).length > 0) return;
    await run(async () => props.onAdded(await api.call("nodes.add", addNodeRequest(f))));
  };

  const field = (k: keyof Fields, label: string, input: ReactNode, hint?: string) => (
    <div className={show(k) ? "field invalid" : "field"}>
      <label htmlFor={`an-${k}`}>{label}</label>
      {input}
      {show(k) ? (
        <div className="field-error" id={`an-${k}-err`} role="alert">
          {errors[k]}
        </div>
      ) : hint ? (
        <div className="field-hint">{hint}</div>
      ) : null}
    </div>
  );
  const inputProps = (k: keyof Fields) => ({
    id: `an-${k}`,
    value: f[k],
    onChange: (e: ChangeEvent<HTMLInputElement>) => set(k, e.target.value as never),
    onBlur: blur(k),
    "aria-invalid": Boolean(show(k)),
    "aria-describedby": show(k) ? `an-${k}-err` : undefined,
  });

  return (
    <form className="add-node" onSubmit={submit} noValidate aria-label="Add node">
      <div className="ssh-config-import">
        {sshConfig === null ? (
          <button type="button" onClick={() => void loadSshConfig()}>
            Import from ~/.ssh/config…
          </button>
        ) : !sshConfig.found ? (
          <span className="muted">No {sshConfig.path}: fill in the fields below.</span>
        ) : (
          <label>
            Host from {sshConfig.path}{" "}
            <select defaultValue="" onChange={(e) => useCandidate(e.target.value)} aria-label="Host from ~/.ssh/config">
              <option value="" disabled>
                {sshConfig.candidates.length} host(s)…
              </option>
              {sshConfig.candidates.map((c) => (
                <option key={c.alias} value={c.alias}>
                  {c.alias} ({c.user ? `${c.user}@` : ""}
                  {c.host}:{c.port}
                  {c.proxyJump ? ` via ${c.proxyJump}` : c.proxyCommand ? " via ProxyCommand" : ""})
                </option>
              ))}
            </select>
            {sshConfig.unsupported.length > 0 ? (
              <span className="field-hint"> Skipped: {sshConfig.unsupported.map((u) => `${u.alias} (${u.reason})`).join("; ")}</span>
            ) : null}
          </label>
        )}
      </div>
      <div className="form-grid">
        {field("host", "Host", <input {...inputProps("host")} placeholder="node1.example.org" autoFocus autoComplete="off" spellCheck={false} />, "Host name or IP; user@host:port works too.")}
        {field("port", "Port", <input {...inputProps("port")} inputMode="numeric" className="narrow" />)}
        {field("user", "User", <input {...inputProps("user")} autoComplete="off" spellCheck={false} />, "Runtime files and QMP sockets belong to root.")}
        <fieldset className="field">
          <legend>Authentication</legend>
          <label className="radio">
            <input type="radio" name="auth" checked={f.auth === "agent"} onChange={() => set("auth", "agent")} /> ssh-agent
          </label>
          <label className="radio">
            <input type="radio" name="auth" checked={f.auth === "key"} onChange={() => set("auth", "key")} /> Key file
          </label>
        </fieldset>
        {f.auth === "key"
          ? field("keyPath", "Key file", <input {...inputProps("keyPath")} placeholder="~/.ssh/id_ed25519" spellCheck={false} />, "An encrypted key asks for its passphrase when the node connects (or load it into ssh-agent).")
          : null}
        {field(
          "proxyJump",
          "Jump host (optional)",
          <input {...inputProps("proxyJump")} placeholder="admin@bastion.example.org:22" spellCheck={false} autoComplete="off" />,
          "OpenSSH's ProxyJump: [user@]host[:port], several separated by commas. Each jump host's key is checked too.",
        )}
        {field(
          "proxyCommand",
          "ProxyCommand (optional)",
          <input {...inputProps("proxyCommand")} placeholder="ssh -W %h:%p bastion" spellCheck={false} autoComplete="off" />,
          "Run as a command with arguments, not through a shell; %h, %p, %r and %n are expanded. The node's own host key is still checked.",
        )}
        {field("root", "Root on the node", <input {...inputProps("root")} spellCheck={false} />, '"/" for a normal install; a chroot or lab root otherwise.')}
        {field("name", "Display name (optional)", <input {...inputProps("name")} placeholder="defaults to the host" />)}
        {field(
          "ganetiVersion",
          "Ganeti version (optional)",
          <input {...inputProps("ganetiVersion")} placeholder="e.g. 3.0.2" spellCheck={false} />,
          "gnt-cluster version on the node. It decides which runtime-file format is written and which slots are reserved; without it each file's own format is kept.",
        )}
      </div>
      {serverError ? (
        <div className="banner bad" role="alert">
          <strong>Could not add the node.</strong> {serverError}
        </div>
      ) : null}
      <div className="form-actions">
        <button type="button" onClick={props.onCancel} disabled={busy}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Adding…" : "Add node"}
        </button>
      </div>
    </form>
  );
}

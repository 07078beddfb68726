// remoteCommand/shellQuote: whatever the argument, a real /bin/sh gives the
// exact argument back, so no user input can become shell syntax.
import { describe, it, expect } from "vitest";
import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { RemoteArgumentError, remoteCommand, shellQuote } from "../../shared/on-node/remote-command.js";

/** Run `script` through /bin/sh -c and return stdout as a UTF-8 string. */
function sh(script: string): string {
  return execFileSync("/bin/sh", ["-c", script], { encoding: "utf8", env: { PATH: "/usr/bin:/bin", LC_ALL: "C" } });
}

/** Arguments as the node receives them: printf each followed by NUL. A
 * leading marker keeps printf from running its format once with no args. */
function argvOnNode(argv: string[]): string[] {
  const out = sh(remoteCommand(["printf", "%s\\0", "marker", ...argv]));
  return out.split("\0").slice(1, -1);
}

const nasty = [
  "",
  "'",
  "''",
  "a'b",
  '"',
  "$HOME",
  "${PATH}",
  "`id`",
  "$(id)",
  "\\",
  "\\'",
  "a\nb",
  "\n",
  "; rm -rf /tmp/never",
  "&& echo pwned",
  "| cat",
  "*",
  "~",
  "-n",
  "--",
  "!x",
  "#comment",
  " leading and trailing ",
  "\t",
  "é ü 日本 🎉",
];

describe("shellQuote", () => {
  it("always single-quotes, escaping embedded quotes", () => {
    expect(shellQuote("abc")).toBe("'abc'");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });

  it("refuses NUL with an error that says where it is and what to do", () => {
    expect(() => shellQuote("ab\0cd")).toThrow(RemoteArgumentError);
    expect(() => shellQuote("ab\0cd")).toThrow(/NUL byte at offset 2.*stdin/);
  });

  it.each(nasty)("gives %j back through /bin/sh", (s) => {
    expect(sh(`printf %s ${shellQuote(s)}`)).toBe(s);
  });

  it("property: sh -c 'printf %s \"$1\"' sh <quoted> returns the original string", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 40 }),
          fc.string({ unit: fc.constantFrom("'", '"', "$", "`", "\\", "\n", " ", "a", "(", ")", ";", "|", "&", "*", "!", "{", "}"), maxLength: 30 }),
        ).filter((s) => !s.includes("\0")),
        (s) => {
          const script = `printf %s "$1"`;
          const out = sh(`${remoteCommand(["sh", "-c", script, "sh", s])}`);
          expect(out).toBe(s);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("property: any string with a NUL is refused, never truncated", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        expect(() => shellQuote(`${a}\0${b}`)).toThrow(RemoteArgumentError);
      }),
    );
  });
});

describe("remoteCommand", () => {
  it("keeps every argument separate, however hostile", () => {
    expect(argvOnNode(nasty)).toEqual(nasty);
  });

  it("property: argv survives the shell unchanged (count and content)", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "binary", maxLength: 12 }).filter((s) => !s.includes("\0")), { maxLength: 6 }), (argv) => {
        expect(argvOnNode(argv)).toEqual(argv);
      }),
      { numRuns: 100 },
    );
  });

  it("quotes the program name too", () => {
    expect(remoteCommand(["flock", "-n", "/x y"])).toBe("'flock' '-n' '/x y'");
  });

  it("refuses an empty argv or an empty program name", () => {
    expect(() => remoteCommand([])).toThrow(/at least the program name/);
    expect(() => remoteCommand(["", "x"])).toThrow(/argv\[0\]/);
  });

  it("refuses a NUL in any argument", () => {
    expect(() => remoteCommand(["echo", "ok", "bad\0"])).toThrow(RemoteArgumentError);
  });
});

// Prints the path of an Electron binary if one is present, without
// triggering the electron package's lazy download (require("electron")
// would try to fetch it). Exit 1 and a reason otherwise.
const { existsSync, readFileSync } = require("node:fs");
const { join } = require("node:path");
const fromEnv = process.env.ELECTRON_BINARY;
if (fromEnv && existsSync(fromEnv)) {
  console.log(fromEnv);
  process.exit(0);
}
const pkg = join(__dirname, "..", "node_modules", "electron");
const pathTxt = join(pkg, "path.txt");
if (existsSync(pathTxt)) {
  const bin = join(pkg, "dist", readFileSync(pathTxt, "utf8").trim());
  if (existsSync(bin)) {
    console.log(bin);
    process.exit(0);
  }
}
console.error("no Electron binary in node_modules/electron/dist (it downloads on first use, and this machine cannot reach its download site)");
process.exit(1);

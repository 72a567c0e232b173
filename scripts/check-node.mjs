// Runs first in `npm test`: the suite must run on Node 24, the major of Lambda's nodejs24.x runtime.
// npm puts node_modules/.bin (the `node` devDependency) first in PATH; if that install step was skipped,
// the machine's own Node would run the tests silently — stop here instead.
const major = Number(process.versions.node.split(".")[0]);
if (major !== 24) {
  console.error(
    `npm test needs Node 24 (found ${process.version}). Run \`npm ci\` so the pinned node@24 devDependency ` +
      "is installed (its install script must run: see allowScripts in package.json).",
  );
  process.exit(1);
}

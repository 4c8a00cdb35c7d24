#!/usr/bin/env node
// The compiled CLI; `npm run build` (part of the README set-up) produces dist/.
import '../dist/cli/main.js';

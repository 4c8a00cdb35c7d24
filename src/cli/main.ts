#!/usr/bin/env node
import { runDasr } from './program.js';

process.exitCode = await runDasr(process.argv);

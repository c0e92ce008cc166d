/**
 * Set up for every test file: what the support modules hold for the file is released when it ends
 * (see file-end.ts).
 */
import { afterAll } from "vitest";
import { endFile } from "./file-end.js";

afterAll(endFile);

#!/usr/bin/env node
// Prints how fountain-js (an independent Fountain parser, npm) reads a file, in the JSON
// naming of previz-screenplay: {"title_page": {...}, "elements": [{"type": ...}, ...]}.
// Only the fields the differential test compares are filled in.
//
//   node tests/differential/fountain_js.js FILE.fountain
'use strict';

const fs = require('fs');
const { Fountain } = require('fountain-js');

const file = process.argv[2];
if (!file) {
  console.error('usage: fountain_js.js FILE.fountain');
  process.exit(2);
}
const source = fs.readFileSync(file, 'utf8');
const tokens = new Fountain().parse(source, true).tokens;

// "BOB (V.O.) (CONT'D)" -> name "BOB", extensions ["V.O.", "CONT'D"].
function splitCharacter(text) {
  const trimmed = text.trim();
  const open = trimmed.indexOf('(');
  if (open < 0) return { name: trimmed, extensions: [] };
  const extensions = [];
  const re = /\(([^)]*)\)/g;
  let match;
  while ((match = re.exec(trimmed.slice(open))) !== null) extensions.push(match[1].trim());
  return { name: trimmed.slice(0, open).trim(), extensions };
}

const titlePage = {};
const elements = [];
let pendingDual = null;
for (const token of tokens) {
  if (token.is_title) {
    titlePage[token.type] = token.text;
    continue;
  }
  switch (token.type) {
    case 'dialogue_begin':
      pendingDual = token.dual || null;
      break;
    case 'character': {
      const { name, extensions } = splitCharacter(token.text);
      elements.push({
        type: 'character',
        name,
        extension: extensions.length ? extensions.join(' ') : null,
        extensions,
        dual: pendingDual !== null,
        dual_side: pendingDual,
      });
      pendingDual = null;
      break;
    }
    case 'scene_heading':
      elements.push({
        type: 'scene_heading',
        text: token.text,
        scene_number: token.scene_number === undefined ? null : token.scene_number,
      });
      break;
    case 'section':
      elements.push({ type: 'section', text: token.text, depth: token.depth });
      break;
    case 'action':
    case 'dialogue':
    case 'parenthetical':
    case 'lyrics':
    case 'transition':
    case 'centered':
    case 'synopsis':
    case 'note':
      elements.push({ type: token.type, text: token.text });
      break;
    case 'page_break':
      elements.push({ type: 'page_break' });
      break;
    default:
      // dialogue_end, dual_dialogue_begin/end, spaces, boneyard markers: structure only.
      break;
  }
}
process.stdout.write(JSON.stringify({ title_page: titlePage, elements }, null, 2) + '\n');

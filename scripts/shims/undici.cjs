// What tconfd uses of undici inside the bundle (scripts/build.mjs aliases `undici` here): the Agent and the request
// API that undici's index.js attaches to every dispatcher, without loading fetch, WebSocket, EventSource, the cache
// and the mocks (index.js loads them all: ~15-25 ms and several MB at every start against Vault). Relative paths, so
// that the alias does not apply to them; same package, same version.
'use strict';
const Dispatcher = require('../../node_modules/undici/lib/dispatcher/dispatcher.js');
const Agent = require('../../node_modules/undici/lib/dispatcher/agent.js');

Object.assign(Dispatcher.prototype, require('../../node_modules/undici/lib/api/index.js'));

module.exports = { Agent, Dispatcher };

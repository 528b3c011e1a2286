// discord.js against the local server, run by test_client_libraries.py with NODE_PATH set to
// discord.js's install: node discordjs_scenario.js API_BASE TOKEN SECOND_TOKEN GUILD_ID SECOND_ID
// (API_BASE is http://host:port/api; discord.js appends /v10). It logs in over the gateway,
// makes a category whose overwrites let only the second bot (and the owner) send and a channel
// in it, sends, uploads, edits, reads history, reacts, sees a second client's message as an
// event, sends a burst into the channel's rate limit, survives a gateway close (resume), and
// prints one line "RESULT {json}".
"use strict";

const { Client, GatewayIntentBits, PermissionFlagsBits, OverwriteType, ChannelType, Events } = require("discord.js");

const [api, token, secondToken, guildId, secondId] = process.argv.slice(2);
const base = api.replace(/\/api$/, "");

function waitFor(client, event, predicate, ms = 30000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    const listener = (...args) => {
      if (predicate(...args)) {
        clearTimeout(timer);
        client.off(event, listener);
        resolve(args[0]);
      }
    };
    client.on(event, listener);
  });
}

function newClient() {
  return new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
    rest: { api, version: "10" },
  });
}

async function main() {
  const out = {};
  const client = newClient();
  const ready = waitFor(client, Events.ClientReady, () => true);
  await client.login(token);
  await ready;
  out.me = client.user.id;
  const guild = await client.guilds.fetch(guildId);
  out.guild_name = guild.name;
  const category = await guild.channels.create({
    name: "DJS Things",
    type: ChannelType.GuildCategory,
    permissionOverwrites: [
      { id: guildId, type: OverwriteType.Role, deny: [PermissionFlagsBits.SendMessages] },
      { id: secondId, type: OverwriteType.Member, allow: [PermissionFlagsBits.SendMessages] },
    ],
  });
  out.category_overwrites = category.permissionOverwrites.cache
    .map((o) => [o.id, o.type, o.allow.bitfield.toString(), o.deny.bitfield.toString()])
    .sort();
  const channel = await guild.channels.create({ name: "DJS Chat", type: ChannelType.GuildText, parent: category.id });
  out.channel = { id: channel.id, name: channel.name, parent: channel.parentId };
  const sent = await channel.send("hello from discord.js");
  const upload = await channel.send({ content: "a file", files: [{ attachment: Buffer.from("djs bytes"), name: "notes.txt" }] });
  const attachment = upload.attachments.first();
  out.attachment = { filename: attachment.name, size: attachment.size };
  out.attachment_body = await (await fetch(attachment.url)).text();
  const edited = await sent.edit("edited by discord.js");
  out.edited = { content: edited.content, has_edited_at: edited.editedTimestamp !== null };
  const history = await channel.messages.fetch({ limit: 50, cache: false });
  out.history = [...history.values()].map((m) => m.content);
  await sent.react("👍");
  const users = await sent.reactions.resolve("👍").users.fetch();
  out.reactors = [...users.keys()];

  // an event caused by a second client (a second bot logged in on its own gateway session)
  const second = newClient();
  const secondReady = waitFor(second, Events.ClientReady, () => true);
  await second.login(secondToken);
  await secondReady;
  const seen = waitFor(client, Events.MessageCreate, (m) => m.channelId === channel.id && m.author.id === secondId);
  const secondChannel = await second.channels.fetch(channel.id);
  await secondChannel.send("hello from the second bot");
  const event = await seen;
  out.event_from_second = { content: event.content, author: event.author.id };
  await second.destroy();

  // a burst over the channel's message bucket: discord.js's REST queue waits out the limit
  const burst = await Promise.all([...Array(8).keys()].map((i) => channel.send(`burst ${i}`)));
  out.burst = burst.map((m) => m.content).sort();

  // the server closes every gateway connection with 4000: discord.js resumes
  const resumed = waitFor(client, Events.ShardResume, () => true);
  const closed = await fetch(`${base}/_local/gateway/close`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code: 4000 }),
  });
  out.closed_sessions = (await closed.json()).sessions;
  const after = waitFor(client, Events.MessageCreate, (m) => m.content === "after resume from the second bot");
  await resumed;
  const third = newClient();
  const thirdReady = waitFor(third, Events.ClientReady, () => true);
  await third.login(secondToken);
  await thirdReady;
  await (await third.channels.fetch(channel.id)).send("after resume from the second bot");
  out.after_resume = (await after).content;
  await third.destroy();
  await client.destroy();
  return out;
}

main().then(
  (out) => {
    console.log("RESULT " + JSON.stringify(out));
    process.exit(0);
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);

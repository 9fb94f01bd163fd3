"""The benchmark corpus: sales calls spoken by espeak-ng from a seeded script: every word is known.

Clips are built once and cached in the corpus directory, each as `<name>.<ext>` (the audio),
`<name>.txt` (the reference script, one turn a line) and `<name>.json` (voices, turn times):

    call_1min        about a minute, two voices taking turns with short pauses (16 kHz WAV)
    call_1min_phone  the same call as a phone line carries it: 8 kHz mu-law, 300-3400 Hz, noise
    call_20min       twenty minutes, three voices, pauses and a minute of hold music (MP3)
    call_2h          the 20-minute call six times over, as Opus: the memory check

The hard corpus (HARD_CLIPS) is spoken from other sentences (RenewalWriter: account reviews,
renewals and support escalations), so no text in it was used to choose the engine's defaults:

    dense_4min       three voices, dense turn-taking: 0.2-0.6 s between turns
    fast_2min        three voices at 195-210 words a minute, dense turns
    back_to_back     three one-minute calls joined with half a second between them
    phone_20min      a dense twenty-minute call as a phone line carries it (8 kHz mu-law)

Test and benchmark tooling only: it needs espeak-ng, sox and ffmpeg, which the product does not.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from transcripts.speech import audio
from transcripts.speech.base import SAMPLE_RATE

# Bump when the script, voices or processing change: clips of another version are rebuilt.
CORPUS_VERSION = 1
TOOLS = ("espeak-ng", "sox", "ffmpeg")

Log = Callable[[str], None]


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice (language plus variant), its speaking rate and pitch."""

    name: str
    words_per_minute: int = 165
    pitch: int = 50


@dataclass(frozen=True)
class Turn:
    speaker: str
    voice: str
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Clip:
    name: str
    audio: Path
    script: Path
    seconds: float
    description: str

    def reference(self) -> str:
        return self.script.read_text()


# Who speaks in which voice. Several accents and both sexes: accuracy on one voice says little.
TWO_PARTY = {"rep": Voice("en-us", 170, 45), "prospect": Voice("en-gb+f3", 160, 55)}
# The hard corpus: other accents than the calls above, and a fast pair.
HARD_CAST = {
    "rep": Voice("en-us+m2", 175, 45),
    "prospect": Voice("en-gb-scotland+f2", 170, 62),
    "manager": Voice("en-gb-x-gbclan", 165, 38),
}
FAST_CAST = {
    "rep": Voice("en-us+m4", 205, 48),
    "prospect": Voice("en-gb+f5", 195, 58),
    "manager": Voice("en-029", 210, 42),
}
DENSE_PAUSES = (0.2, 0.6)

THREE_PARTY = {
    "rep": Voice("en+m3", 165, 40),
    "prospect": Voice("en-us+f3", 160, 60),
    "manager": Voice("en-gb-x-rp", 155, 50),
}


# --- The script -------------------------------------------------------------------------------

ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
TENS = "zero ten twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """0 to 999,999 in words, as people say prices: the script holds what the voice says."""
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + (f" {ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{ONES[hundreds]} hundred" + (f" {number_words(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    return f"{number_words(thousands)} thousand" + (f" {number_words(rest)}" if rest else "")


NAMES = ("Sarah", "Michael", "Priya", "David", "Jennifer", "Carlos", "Emily", "James", "Laura")
COMPANIES = ("Northwind", "Brightline Health", "Summit Financial", "Harbor Logistics", "Evergreen")
COMPETITORS = ("Gong", "Chorus", "Otter", "Fireflies", "Salesloft")
CRMS = ("Salesforce", "HubSpot", "Pipedrive")
ROLES = ("VP of sales", "finance director", "head of operations", "sales manager", "CFO")
REGIONS = ("Chicago", "London", "Denver", "Toronto", "Austin", "the Boston office")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
PLANS = ("Starter", "Team", "Business", "Enterprise")


class CallWriter:
    """Builds a sales call's lines from templates; a seeded generator makes it repeatable."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        people = rng.sample(NAMES, 4)
        self.rep, self.prospect, self.manager, self.colleague = people
        self.vendor = "Callscribe"
        self.company = rng.choice(COMPANIES)
        self.seller_side = "rep"

    def pick(self, options: tuple[str, ...]) -> str:
        return self.rng.choice(options)

    def num(self, low: int, high: int, step: int = 1) -> str:
        return number_words(self.rng.randrange(low, high + 1, step))

    def opening(self) -> list[tuple[str, str]]:
        return [
            (
                "rep",
                f"Hi {self.prospect}, this is {self.rep} from {self.vendor}. "
                "Thanks for taking the time to talk with me today.",
            ),
            (
                "prospect",
                f"Hi {self.rep}, happy to chat. I have about {self.num(20, 40, 5)} minutes "
                "before my next meeting.",
            ),
        ]

    def agenda(self) -> list[tuple[str, str]]:
        return [
            (
                "rep",
                "Perfect. I would love to learn how your team handles calls today, "
                "and then show you where we might help.",
            ),
            ("prospect", "Sounds good to me."),
        ]

    def discovery(self) -> list[tuple[str, str]]:
        exchanges = [
            (
                "How many sales reps are on your team right now?",
                f"We have {self.num(12, 60)} reps in {self.pick(REGIONS)}, and we are hiring "
                f"{self.num(3, 9)} more this quarter.",
            ),
            (
                "What are you using to record your calls today?",
                f"We use {self.pick(COMPETITORS)} for recording, but the transcripts are not "
                "very accurate on phone calls.",
            ),
            (
                "Walk me through what happens after a discovery call.",
                f"The rep writes notes by hand and copies them into {self.pick(CRMS)}, which "
                f"takes about {self.num(10, 25, 5)} minutes per call.",
            ),
            (
                "Who else would be involved in a decision like this?",
                f"Our {self.pick(ROLES)} signs off on anything over "
                f"{self.num(10, 50, 5)} thousand dollars, and IT reviews the security side.",
            ),
            (
                "What would success look like six months from now?",
                "If managers could review calls without listening to every recording, "
                "that would be a big win for us.",
            ),
            (
                "What is the biggest problem you are trying to solve this year?",
                f"Our ramp time for new reps is about {self.num(4, 9)} months, and we want "
                f"to get it under {self.num(2, 3)}.",
            ),
            (
                "How do your managers coach the team today?",
                "Mostly by sitting in on live calls, which does not scale past a few reps.",
            ),
            (
                "Do you have a budget set aside for this project?",
                f"We set aside roughly {self.num(20, 90, 5)} thousand dollars for sales "
                "tools this year.",
            ),
            (
                "Where do your deals usually get stuck?",
                "Usually after the demo, when procurement asks for a security review and "
                "nobody remembers what was promised on the call.",
            ),
        ]
        question, answer = self.rng.choice(exchanges)
        return [(self.seller_side, question), ("prospect", answer)]

    def pricing(self) -> list[tuple[str, str]]:
        price = self.rng.choice((29, 39, 49, 59, 79))
        seats = self.rng.choice((15, 20, 25, 40, 60))
        discount = self.rng.choice((10, 15, 20, 25))
        return [
            ("prospect", "Can you walk me through the pricing?"),
            (
                self.seller_side,
                f"Our {self.pick(PLANS)} plan is {number_words(price)} dollars per user per "
                f"month. For {number_words(seats)} seats that comes to "
                f"{number_words(price * seats * 12)} dollars a year.",
            ),
            (
                self.seller_side,
                f"If you sign before the end of the quarter, we can take "
                f"{number_words(discount)} percent off the first year.",
            ),
            ("prospect", "That is a bit more than we expected. Is there a setup fee?"),
            (self.seller_side, "There is no setup fee, and onboarding is included."),
        ]

    def competition(self) -> list[tuple[str, str]]:
        first, second = self.rng.sample(COMPETITORS, 2)
        return [
            ("prospect", f"We also looked at {first} and {second} last month."),
            (
                self.seller_side,
                f"A lot of teams come to us from {first}. The main difference is that your "
                "recordings stay on your own servers, and search works across every call.",
            ),
        ]

    def objection(self) -> list[tuple[str, str]]:
        return [
            (
                "prospect",
                "Our legal team will want to review the data processing agreement first.",
            ),
            (
                self.seller_side,
                "Of course. I will send our security documentation and the standard contract "
                "today.",
            ),
        ]

    def hold(self) -> list[tuple[str, str]]:
        return [
            (
                "rep",
                f"Let me bring in my manager, {self.manager}, for the contract question. "
                "Can you hold for a minute?",
            ),
            ("prospect", "Sure, no problem."),
        ]

    def after_hold(self) -> list[tuple[str, str]]:
        self.seller_side = "manager"
        return [
            (
                "manager",
                f"Hi {self.prospect}, this is {self.manager}. Thanks for holding, and thanks "
                f"for considering {self.vendor}.",
            ),
            ("prospect", f"Thanks for joining, {self.manager}."),
        ]

    def next_steps(self) -> list[tuple[str, str]]:
        day = self.pick(WEEKDAYS)
        return [
            (
                "rep",
                f"Could we schedule a follow up with your {self.pick(ROLES)} next {day} "
                f"at {self.num(9, 11)} in the morning?",
            ),
            ("prospect", f"{day} works for me. I will send the invite to {self.colleague}."),
            (
                "rep",
                f"Great. I will send a summary of today's call and the proposal by "
                f"{self.pick(WEEKDAYS)}.",
            ),
        ]

    def closing(self) -> list[tuple[str, str]]:
        return [
            ("rep", f"Thanks again for your time, {self.prospect}. Talk soon."),
            ("prospect", f"Thanks, {self.rep}. Bye."),
        ]

    def middle_block(self) -> list[tuple[str, str]]:
        """One stretch of conversation; discovery comes up most, as in real calls."""
        block = self.rng.choice(
            (self.discovery, self.discovery, self.discovery, self.pricing, self.competition)
            + (self.objection,)
        )
        return block()


# --- The hard corpus's script: other sentences than the calls above and the tests' ----------

PRODUCTS = ("Ledgerly", "Quorra", "Zentrix", "Vantora", "Kyvo")
CITIES = ("Seattle", "Dublin", "Phoenix", "Melbourne", "Atlanta", "Montreal")
MONTHS = ("January", "March", "April", "June", "September", "November")


class RenewalWriter(CallWriter):
    """An account manager's renewal and support call: other topics, words and numbers."""

    def __init__(self, rng: random.Random):
        super().__init__(rng)
        self.product = rng.choice(PRODUCTS)

    def opening(self) -> list[tuple[str, str]]:
        return [
            ("rep", f"Good morning {self.prospect}, it is {self.rep} calling about your renewal."),
            ("prospect", f"Morning {self.rep}. Good timing, I was just reading your email."),
            ("manager", f"{self.manager} here as well, I look after the {self.product} account."),
        ]

    def middle_block(self) -> list[tuple[str, str]]:
        blocks = (self.usage, self.outage, self.seats, self.integration, self.invoice, self.quick)
        return self.rng.choice(blocks)()

    def usage(self) -> list[tuple[str, str]]:
        return [
            ("rep", f"How many of your agents in {self.pick(CITIES)} log in every week?"),
            ("prospect", f"Around {self.num(30, 90)} of them, mostly on the night shift."),
            ("manager", "That matches our dashboard. Adoption went up after the training."),
            ("prospect", "Yes, the training in " + self.pick(MONTHS) + " helped a lot."),
        ]

    def outage(self) -> list[tuple[str, str]]:
        hours = self.num(2, 6)
        return [
            ("prospect", f"We had an outage last {self.pick(WEEKDAYS)} that lasted {hours} hours."),
            ("manager", "I am sorry about that. The root cause was a failed database upgrade."),
            ("prospect", "Our customers noticed. My director asked me for a written report."),
            ("manager", "You will have the incident report by the end of the week."),
            ("rep", "And we will credit the downtime on your next invoice."),
        ]

    def seats(self) -> list[tuple[str, str]]:
        seats = self.rng.choice((35, 45, 70, 120, 150))
        return [
            ("rep", f"Your contract covers {number_words(seats)} seats. Is that still right?"),
            ("prospect", f"We need {self.num(10, 30, 5)} more for the new support team."),
            ("rep", "Adding them now keeps the same rate for the whole term."),
            ("prospect", "Good. Can the new seats start on the first of next month?"),
            ("rep", "Yes, I can set that up today."),
        ]

    def integration(self) -> list[tuple[str, str]]:
        return [
            ("manager", f"Are you still syncing tickets into {self.pick(CRMS)} by hand?"),
            ("prospect", "We are. Someone exports a spreadsheet every evening."),
            ("manager", "The connector does that on its own, every fifteen minutes."),
            ("prospect", "Does it keep the attachments and the internal notes?"),
            ("manager", "Attachments yes, internal notes only if you switch that option on."),
        ]

    def invoice(self) -> list[tuple[str, str]]:
        amount = self.rng.choice((12_400, 18_750, 26_300, 41_900))
        return [
            ("prospect", "Our finance team flagged the last invoice. It looked too high."),
            ("rep", f"The total was {number_words(amount)} dollars, including the extra storage."),
            ("prospect", "We never asked for extra storage."),
            ("rep", "Then I will remove it and send a corrected invoice this afternoon."),
        ]

    def quick(self) -> list[tuple[str, str]]:
        return [
            ("prospect", "Quick question before I forget."),
            ("rep", "Go ahead."),
            ("prospect", f"Is {self.product} moving to the new pricing in {self.pick(MONTHS)}?"),
            ("manager", "Only for new customers. Your price is locked until the renewal."),
            ("prospect", "Okay, good to know."),
        ]

    def next_steps(self) -> list[tuple[str, str]]:
        return [
            ("rep", f"I will send the renewal paperwork by {self.pick(WEEKDAYS)}."),
            ("prospect", f"Please copy {self.colleague} from procurement on it."),
        ]

    def closing(self) -> list[tuple[str, str]]:
        return [
            ("manager", "Thanks for the candid feedback today."),
            ("prospect", "Thank you both. Talk next week."),
        ]


# --- Sound --------------------------------------------------------------------------------------


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"The benchmark corpus needs {', '.join(missing)}: "
            "apt-get install espeak-ng sox ffmpeg (make test-packages)."
        )


def speak(text: str, voice: Voice, workdir: Path) -> np.ndarray:
    """`text` spoken by `voice`, as 16 kHz float32 samples at a common loudness."""
    wav = workdir / "turn.wav"
    command = ["espeak-ng", "-v", voice.name, "-s", str(voice.words_per_minute)]
    command += ["-p", str(voice.pitch), "-w", str(wav), text]
    subprocess.run(command, check=True, capture_output=True)
    # espeak-ng writes 22.05 kHz: the product's own decoder resamples it.
    return normalize_level(audio.decode(wav))


def normalize_level(samples: np.ndarray, rms_dbfs: float = -20.0) -> np.ndarray:
    """The same loudness for every voice (espeak's variants differ by several dB)."""
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) or 1.0
    gain = 10 ** (rms_dbfs / 20) / rms
    peak = float(np.max(np.abs(samples))) * gain
    if peak > 0.9:
        gain *= 0.9 / peak
    return (samples * gain).astype(np.float32)


def hold_music(seconds: float, level: float = 0.03) -> np.ndarray:
    """Quiet on-hold music: a slow arpeggio of soft tones, about -30 dBFS."""
    notes = (261.63, 329.63, 392.0, 523.25, 392.0, 329.63)  # C4 E4 G4 C5 G4 E4
    note_seconds = 0.5
    t = np.arange(int(note_seconds * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.minimum(1.0, np.minimum(t, note_seconds - t) / 0.05)
    phrase = np.concatenate(
        [
            envelope * (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(2 * np.pi * 1.5 * f * t))
            for f in notes
        ]
    )
    repeats = math.ceil(seconds / (len(phrase) / SAMPLE_RATE))
    music = np.tile(phrase, repeats)[: int(seconds * SAMPLE_RATE)]
    return (music * level / 1.3).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def pause_seconds(rng: random.Random) -> float:
    """A gap between turns: mostly short, sometimes someone thinks or looks something up."""
    return rng.uniform(2.5, 4.5) if rng.random() < 0.08 else rng.uniform(0.3, 1.2)


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    pcm = np.clip(samples * 32767.0, -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def run_tool(command: list[str], stdin: bytes | None = None) -> bytes:
    done = subprocess.run(command, input=stdin, check=True, capture_output=True)
    return done.stdout


# --- Building calls -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallPlan:
    seconds: float
    seed: int
    cast: dict[str, Voice]
    # Where the rep puts the prospect on hold, and for how long (None: no hold).
    hold_at: float | None = None
    hold_seconds: float = 60.0
    # The hard corpus: RenewalWriter's sentences, and pauses drawn from this range (seconds).
    renewal: bool = False
    dense_pauses: tuple[float, float] | None = None


def synthesize(plan: CallPlan, workdir: Path) -> tuple[np.ndarray, list[Turn]]:
    """The call's audio and its turns with times, about plan.seconds long."""
    writer = (RenewalWriter if plan.renewal else CallWriter)(random.Random(plan.seed))
    pauses = random.Random(plan.seed + 1)

    def pause(rng: random.Random) -> float:
        return rng.uniform(*plan.dense_pauses) if plan.dense_pauses else pause_seconds(rng)

    pieces: list[np.ndarray] = []
    turns: list[Turn] = []
    elapsed = 0.0

    def say(lines: list[tuple[str, str]]) -> None:
        nonlocal elapsed
        for speaker, text in lines:
            gap = silence(pause(pauses) if pieces else 0.3)
            voice = plan.cast[speaker]
            speech = speak(text, voice, workdir)
            start = elapsed + len(gap) / SAMPLE_RATE
            end = start + len(speech) / SAMPLE_RATE
            pieces.extend((gap, speech))
            turns.append(Turn(speaker, voice.name, text, round(start, 3), round(end, 3)))
            elapsed = end

    long_call = plan.seconds >= 45 and not plan.renewal
    say(writer.opening() + (writer.agenda() if long_call else []))
    # Room for the goodbye (about 6 s) and the next steps (15 s), and for the last block going
    # over (half a block on average): the call ends close to plan.seconds. A short clip is
    # only a greeting and a goodbye.
    budget = plan.seconds - 28 if long_call else 0.0
    if plan.renewal:
        budget = plan.seconds - 10
    on_hold_pending = plan.hold_at is not None
    while elapsed < budget or on_hold_pending:
        if on_hold_pending and elapsed >= plan.hold_at:
            on_hold_pending = False
            say(writer.hold())
            pieces.extend((silence(1.0), hold_music(plan.hold_seconds), silence(1.0)))
            elapsed += plan.hold_seconds + 2.0
            say(writer.after_hold())
            continue
        say(writer.middle_block())
    say((writer.next_steps() if long_call or plan.renewal else []) + writer.closing())
    pieces.append(silence(0.5))
    return np.concatenate(pieces), turns


def _manifest_path(stem: Path) -> Path:
    return stem.with_suffix(".json")


def write_manifest(clip: Clip, turns: list[Turn], extra: dict) -> None:
    manifest = {
        "version": CORPUS_VERSION,
        "name": clip.name,
        "audio": clip.audio.name,
        "seconds": round(clip.seconds, 3),
        "description": clip.description,
        "voices": sorted({turn.voice for turn in turns}),
        "turns": [asdict(turn) for turn in turns],
        **extra,
    }
    _manifest_path(clip.script).write_text(json.dumps(manifest, indent=1) + "\n")


def load_clip(corpus_dir: Path, name: str) -> Clip | None:
    """A cached clip, or None if it is missing, incomplete or from another corpus version."""
    manifest_path = Path(corpus_dir) / f"{name}.json"
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError:
        return None
    audio_path = manifest_path.parent / manifest.get("audio", "")
    script = manifest_path.with_suffix(".txt")
    if manifest.get("version") != CORPUS_VERSION or not audio_path.is_file():
        return None
    if not script.is_file():
        return None
    return Clip(name, audio_path, script, manifest["seconds"], manifest["description"])


def encode(source: Path, target: Path, codec_args: list[str], loops: int = 1) -> None:
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
    if loops > 1:
        command += ["-stream_loop", str(loops - 1)]
    command += ["-i", str(source), "-ac", "1", *codec_args, str(target)]
    run_tool(command)


def build_call(
    corpus_dir: Path,
    name: str,
    plan: CallPlan,
    description: str,
    audio_format: str = "wav",
) -> Clip:
    """Speak a call into `corpus_dir/name.<wav|mp3>`, with its script and manifest beside it."""
    require_tools()
    corpus_dir = Path(corpus_dir)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-", dir=corpus_dir) as tmp:
        workdir = Path(tmp)
        samples, turns = synthesize(plan, workdir)
        wav = workdir / "call.wav"
        write_wav(wav, samples)
        target = corpus_dir / f"{name}.{audio_format}"
        if audio_format == "wav":
            shutil.move(wav, target)
        else:
            # An upload as people make them: 48 kbit/s mono MP3.
            encode(wav, target, ["-ar", str(SAMPLE_RATE), "-c:a", "libmp3lame", "-b:a", "48k"])
    seconds = round(len(samples) / SAMPLE_RATE, 3)
    clip = Clip(name, target, corpus_dir / f"{name}.txt", seconds, description)
    clip.script.write_text("\n".join(turn.text for turn in turns) + "\n")
    write_manifest(clip, turns, {"seed": plan.seed, "hold_at": plan.hold_at})
    return clip


def build_joined(
    corpus_dir: Path, name: str, plans: list[CallPlan], description: str, gap: float = 0.5
) -> Clip:
    """Several calls in one recording, `gap` seconds apart: as a dialer records a session."""
    require_tools()
    corpus_dir = Path(corpus_dir)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    pieces: list[np.ndarray] = []
    turns: list[Turn] = []
    elapsed = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-", dir=corpus_dir) as tmp:
        for plan in plans:
            samples, call_turns = synthesize(plan, Path(tmp))
            turns += [
                replace(t, start=round(t.start + elapsed, 3), end=round(t.end + elapsed, 3))
                for t in call_turns
            ]
            pieces += [samples, silence(gap)]
            elapsed += (len(samples) + int(gap * SAMPLE_RATE)) / SAMPLE_RATE
    samples = np.concatenate(pieces)
    target = corpus_dir / f"{name}.wav"
    write_wav(target, samples)
    clip = Clip(name, target, corpus_dir / f"{name}.txt", len(samples) / SAMPLE_RATE, description)
    clip.script.write_text("\n".join(turn.text for turn in turns) + "\n")
    write_manifest(clip, turns, {"seeds": [plan.seed for plan in plans]})
    return clip


def build_phone_copy(corpus_dir: Path, name: str, source: Clip, seed: int = 11) -> Clip:
    """`source` as a phone line carries it: 8 kHz, 300-3400 Hz, line noise, G.711 mu-law."""
    require_tools()
    band_limited = run_tool(
        ["sox", "-V1", str(source.audio), "-D", "-t", "raw", "-e", "signed-integer", "-b", "16"]
        + ["-r", "8000", "-", "sinc", "300-3400", "rate", "-h", "8000"]
    )
    line = np.frombuffer(band_limited, dtype="<i2").astype(np.float32) / 32768.0
    # Hiss at about -50 dBFS, some 30 dB under the speech: a fair, not a bad, line.
    noise = np.random.default_rng(seed).normal(0.0, 10 ** (-50 / 20), len(line))
    noisy = np.clip((line + noise) * 32767.0, -32768, 32767).astype("<i2")
    target = Path(corpus_dir) / f"{name}.wav"
    run_tool(
        ["sox", "-V1", "-t", "raw", "-e", "signed-integer", "-b", "16", "-r", "8000", "-c", "1"]
        + ["-", "-D", "-e", "u-law", "-b", "8", str(target)],
        stdin=noisy.tobytes(),
    )
    clip = Clip(
        name,
        target,
        Path(corpus_dir) / f"{name}.txt",
        source.seconds,
        f"{source.name} over a phone line: 8 kHz mu-law, 300-3400 Hz, hiss at -50 dBFS",
    )
    shutil.copyfile(source.script, clip.script)
    manifest = json.loads(_manifest_path(source.script).read_text())
    write_manifest(clip, [Turn(**turn) for turn in manifest["turns"]], {"source": source.name})
    return clip


def build_repeated(corpus_dir: Path, name: str, source: Clip, times: int) -> Clip:
    """`source` `times` over in one file, as Opus (24 kbit/s), to keep a long call small."""
    require_tools()
    target = Path(corpus_dir) / f"{name}.opus"
    encode(source.audio, target, ["-c:a", "libopus", "-b:a", "24k", "-application", "voip"], times)
    seconds = round(source.seconds * times, 3)
    clip = Clip(
        name,
        target,
        Path(corpus_dir) / f"{name}.txt",
        seconds,
        f"{source.name} {times} times over ({seconds / 3600:.1f} h), Opus 24 kbit/s",
    )
    clip.script.write_text(source.reference() * times)
    manifest = json.loads(_manifest_path(source.script).read_text())
    turns = [
        Turn(
            **{
                **turn,
                "start": round(turn["start"] + i * source.seconds, 3),
                "end": round(turn["end"] + i * source.seconds, 3),
            }
        )
        for i in range(times)
        for turn in manifest["turns"]
    ]
    write_manifest(clip, turns, {"source": source.name, "times": times})
    return clip


# --- The corpus -------------------------------------------------------------------------------

CLIP_NAMES = ("call_1min", "call_1min_phone", "call_20min", "call_2h")
QUICK_CLIPS = ("call_1min", "call_1min_phone")
HARD_CLIPS = ("dense_4min", "fast_2min", "back_to_back", "phone_20min")


def _build(corpus_dir: Path, name: str, log: Log) -> Clip:
    if name == "call_1min":
        return build_call(
            corpus_dir,
            name,
            CallPlan(seconds=60, seed=2, cast=TWO_PARTY),
            "a one-minute call, two voices (en-us, en-gb+f3) taking turns, 16 kHz WAV",
        )
    if name == "call_1min_phone":
        return build_phone_copy(corpus_dir, name, ensure_clip(corpus_dir, "call_1min", log))
    if name == "call_20min":
        return build_call(
            corpus_dir,
            name,
            CallPlan(seconds=20 * 60, seed=20, cast=THREE_PARTY, hold_at=9 * 60),
            "a twenty-minute call, three voices (en+m3, en-us+f3, en-gb-x-rp), pauses, "
            "60 s of hold music, 48 kbit/s MP3",
            audio_format="mp3",
        )
    if name == "call_2h":
        return build_repeated(corpus_dir, name, ensure_clip(corpus_dir, "call_20min", log), 6)
    hard = _build_hard(corpus_dir, name, log)
    if hard is not None:
        return hard
    raise ValueError(f"Unknown clip {name!r}: use one of {', '.join(CLIP_NAMES + HARD_CLIPS)}.")


def _dense(seconds: float, seed: int, cast: dict[str, Voice] = HARD_CAST) -> CallPlan:
    return CallPlan(seconds=seconds, seed=seed, cast=cast, renewal=True, dense_pauses=DENSE_PAUSES)


def _build_hard(corpus_dir: Path, name: str, log: Log) -> Clip | None:
    voices = "three voices (en-us+m2, en-gb-scotland+f2, en-gb-x-gbclan)"
    # Seed 101 is the tests' clip (tests/test_holes.py), used while choosing the engine's
    # settings: the benchmark's clips have other seeds, so other sentences in another order.
    if name == "dense_4min":
        return build_call(
            corpus_dir,
            name,
            _dense(4 * 60, 111),
            f"four minutes, {voices}, 0.2-0.6 s between turns, 16 kHz WAV",
        )
    if name == "fast_2min":
        return build_call(
            corpus_dir,
            name,
            _dense(2 * 60, 202, FAST_CAST),
            "two minutes, three fast voices (195-210 words a minute), 0.2-0.6 s between turns",
        )
    if name == "back_to_back":
        return build_joined(
            corpus_dir,
            name,
            [_dense(60, seed) for seed in (301, 302, 303)],
            f"three one-minute calls joined 0.5 s apart, {voices}, dense turns, 16 kHz WAV",
        )
    if name == "dense_20min":
        return build_call(
            corpus_dir,
            name,
            _dense(20 * 60, 404),
            f"twenty minutes, {voices}, 0.2-0.6 s between turns, 16 kHz WAV",
        )
    if name == "phone_20min":
        return build_phone_copy(corpus_dir, name, ensure_clip(corpus_dir, "dense_20min", log))
    return None


def ensure_clip(corpus_dir: Path, name: str, log: Log = print) -> Clip:
    """The clip from the cache, built first if it is missing."""
    clip = load_clip(corpus_dir, name)
    if clip is None:
        log(f"Building {name} in {corpus_dir} ...")
        clip = _build(Path(corpus_dir), name, log)
    return clip


def ensure_clips(corpus_dir: Path, names: tuple[str, ...], log: Log = print) -> dict[str, Clip]:
    return {name: ensure_clip(corpus_dir, name, log) for name in names}

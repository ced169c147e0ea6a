"""Deterministic synthetic contact-centre organisation (the Retain demo data).

``simulate(cfg)`` runs the organisation month by month (discrete-time hazards, vectorised
over employees) and returns a :class:`Simulation` holding the latent truth as NumPy
arrays.  ``generate(cfg, out_dir)`` simulates and writes the vendor-shaped exports
(HRIS roster, timesheets, survey item catalogue, Qualtrics-style wide surveys, a Polish
cp1250 long survey export, the programme rollout workbook) plus the documented ground
truth.  The same seed gives byte-identical files.

Everything is vectorised: loops run over months, waves, teams and output chunks, never
over employees or answers, so ``employees=1_000_000`` works (surveys are generated and
written one wave at a time).  See docs/synthetic-data.md and the generated
GROUND_TRUTH.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import math
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

__all__ = [
    "SynthConfig",
    "Simulation",
    "SurveyWave",
    "ProgrammeCounterfactual",
    "TRUE_EFFECTS",
    "simulate",
    "simulate_wave",
    "programme_truth",
    "survey_items",
    "extra_survey_items",
    "generate",
    "main",
]

GENERATOR_VERSION = 1

# --------------------------------------------------------------------------------------
# Configuration and documented true effects
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthConfig:
    seed: int = 20261122
    employees: int = 800  # approx. total distinct people over the whole window (incl. those employed at start)
    teams: int = 12
    start_quarter: str = "2023Q4"
    quarters: int = 12  # 2023Q4 .. 2026Q3
    survey_format: str = "csv"  # "csv" (vendor-shaped, the demo) or "parquet" (same columns, for benchmarks)
    # Programme types rolled out as usual (same schedule, same interventions.xlsx) but without any
    # effect: a placebo world for checking that an evaluation finds nothing where there is nothing.
    disable_programmes: tuple[str, ...] = ()
    # Extra Likert items Q22.. (after the comment Q21_TEXT), spread round-robin over DRIVERS: surveys of
    # ~25 items for benchmarks. 0 (the default) writes exactly the 20-item survey.
    extra_items: int = 0

    def __post_init__(self) -> None:
        if self.employees < 20:
            raise ValueError("employees must be >= 20")
        if self.teams < 1:
            raise ValueError("teams must be >= 1")
        if self.quarters < 1:
            raise ValueError("quarters must be >= 1")
        if self.survey_format not in ("csv", "parquet"):
            raise ValueError("survey_format must be 'csv' or 'parquet'")
        unknown = sorted(set(self.disable_programmes) - set(PROGRAMME_TYPES))
        if unknown:
            raise ValueError(f"disable_programmes: unknown programme type(s) {unknown}; known: {list(PROGRAMME_TYPES)}")
        if isinstance(self.extra_items, bool) or not isinstance(self.extra_items, int):
            raise TypeError("extra_items must be an integer")
        if not 0 <= self.extra_items <= MAX_EXTRA_ITEMS:
            raise ValueError(f"extra_items must be between 0 and {MAX_EXTRA_ITEMS}")
        _parse_quarter(self.start_quarter)

    def as_dict(self) -> dict:
        """The config as written to ground_truth.json (``disable_programmes`` and ``extra_items`` only
        when used, so the default demo's files do not change)."""
        d = asdict(self)
        if self.disable_programmes:
            d["disable_programmes"] = sorted(self.disable_programmes)
        else:
            del d["disable_programmes"]
        if not self.extra_items:
            del d["extra_items"]
        return d


MAX_EXTRA_ITEMS = 60  # Q22..Q81: item ids keep two digits (the long export sorts them as text)


DRIVERS = ("mission", "recognition", "worklife", "growth", "autonomy", "manager")
PROGRAMME_TYPES = ("mission", "recognition", "worklife")
PROGRAMME_TYPE_LABELS = {"mission": "Mission", "recognition": "Recognition", "worklife": "Work-life"}

#: The true data-generating parameters.  Written verbatim to ground_truth.json.
TRUE_EFFECTS: dict = {
    "voluntary_hazard": {
        "form": (
            "h_vol(month) = baseline_monthly * prod_d HR_d^(latent_d - 3) * HR_overtime^(overtime_prev/10)"
            " * tenure/burnout multipliers * programme multipliers * calendar trend * exp(frailty)"
        ),
        "baseline_monthly": 0.036,
        "reference": (
            "all six latent drivers = 3.0, 0 overtime hours, tenure > 6 months, not in a Complaints burnout"
            " window, no programme, frailty 0"
        ),
        "hazard_ratio_per_point": {
            "mission": 0.70,
            "recognition": 0.85,
            "worklife": 0.80,
            "growth": 0.95,
            "autonomy": 0.97,
            "manager": 0.80,
        },
        "hazard_ratio_overtime_per_10h": 1.20,
        "overtime_exposure": "Overtime Hours of the previous calendar month as written to timesheets.csv",
        "tenure_multipliers": {
            "first_90_days": {"tenure_months": [1, 3], "hazard_ratio": 1.8},
            "months_4_to_6": {"tenure_months": [4, 6], "hazard_ratio": 1.4},
        },
        "complaints_burnout": {
            "applies_to": "employees in a *-Complaints team (complaint share ~0.6-0.9)",
            "tenure_months": [6, 12],
            "hazard_ratio": 1.8,
        },
        "tenure_definition": (
            "tenure month k = calendar month index - hire month index; hire month k=0 is not at risk;"
            " k=1..3 approximates the first 90 days"
        ),
        "frailty_sd": 0.30,
        "calendar_trend_per_year": 1.15,
        "calendar_trend_note": (
            "labour-market tightening common to all teams: hazard x trend^(months since window start / 12);"
            " absorbed by period fixed effects / not-yet-treated controls in a DiD"
        ),
        "frailty_note": "person-level log-hazard frailty N(0, sd), unobserved; intent to stay reflects it",
    },
    "involuntary_hazard": {
        "baseline_monthly": 0.0052,
        "first_year_hazard_ratio": 1.5,
        "note": "independent of engagement, overtime and programmes",
    },
    "monthly_exit_probability": "P(exit in month) = 1 - exp(-(h_vol + h_inv)); the exit is voluntary with probability h_vol / (h_vol + h_inv)",
    "programmes": {
        "mission": {"hazard_multiplier": 0.75, "driver": "mission", "driver_uplift": 0.30},
        "recognition": {"hazard_multiplier": 0.85, "driver": "recognition", "driver_uplift": 0.30},
        "worklife": {"hazard_multiplier": 0.75, "driver": "worklife", "driver_uplift": 0.30},
        "timing": (
            "the hazard multiplier applies to every month from the calendar month of the start date;"
            " the driver uplift applies from the first survey wave dated on/after the start date;"
            " a programme that ended and was replaced by another of the same type keeps the effect on"
        ),
    },
    "latent_drivers": {
        "scale": "1-5, clipped",
        "person_mean": {
            "mission": 3.55,
            "recognition": 3.15,
            "worklife": 3.10,
            "growth": 3.00,
            "autonomy": 3.35,
            "manager": 3.55,
        },
        "common_factor_sd": 0.42,
        "specific_sd": 0.38,
        "team_effect_sd": 0.18,
        "team_effect_sd_manager": 0.35,
        "team_quarter_shock_sd": 0.10,
        "team_quarter_shock_rho": 0.5,
        "person_quarter_ar1_sd": 0.33,
        "person_quarter_ar1_rho": 0.6,
        "formula": "latent = clip(person_mean + team_effect + team_quarter_shock + person_AR1 + programme_uplift, 1, 5)",
    },
    "engagement": {
        "weights": {"mission": 0.30, "recognition": 0.20, "worklife": 0.15, "growth": 0.10, "autonomy": 0.10, "manager": 0.15},
        "person_offset_sd": 0.25,
        "formula": "engagement = clip(sum_d w_d * latent_d + person_offset, 1, 5)",
    },
    "intent_to_stay": {
        "formula": (
            "intent = clip(intercept - slope * eta + N(0, noise_sd), 1, 5), eta = sum_d log(HR_d) * (latent_d - 3)"
            " + log(HR_overtime) * person_mean_overtime / 10 + frailty"
        ),
        "intercept": 3.05,
        "slope": 1.3,
        "noise_sd": 0.35,
    },
    "workload": {
        "overtime_person_mean": "Gamma(shape 1.5, scale 5.5) hours/month * team factor * FTE (Complaints teams x1.3)",
        "overtime_month_factor": "Gamma(shape 3, scale 1/3)",
        "complaint_share": "Complaints teams U(0.6, 0.9), other teams U(0.05, 0.20), + N(0, 0.04) per month",
        "hours_worked": "FTE * 165 h * share of month employed * (1 + N(0, 0.05)) + overtime",
    },
    "survey": {
        "wave_date": "15th of the second month of each quarter",
        "invited": "every spell with Hire Date <= wave date <= Termination Date (or no termination)",
        "response_rate_target": 0.75,
        "response_model": "logit p = team_effect ~ N(logit 0.76, 0.30) + 0.8 * (engagement - 3.3) + person_offset ~ N(0, 0.5)",
        "item_noise_sd": 0.50,
        "item_offsets": {
            "Q01": 0.10, "Q02": 0.00, "Q03": 0.20, "Q04": -0.10, "Q05": 0.10, "Q06": -0.30,
            "Q07": 0.00, "Q08": -0.20, "Q09": -0.40, "Q10": 0.00, "Q11": -0.30, "Q12": 0.00,
            "Q13": -0.20, "Q14": 0.10, "Q15": 0.00, "Q16": 0.10, "Q17": 0.00, "Q18": -0.10,
            "Q19": 0.00,
        },
        "likert_answer": "clip(round(latent + offset + N(0, item_noise_sd)), 1, 5); reverse item exported as 6 - that",
        "enps_answer": "clip(round(2.6 * engagement - 2.0 + N(0, 1.3)), 0, 10)",
        "item_nonresponse": 0.03,
        "partial_response_rate": 0.02,
        "comment_rate_wide": 0.06,
    },
    "workforce": {
        "headcount_growth_per_year": 0.03,
        "hiring_fill_rate_per_month": 0.85,
        "rehire_share_of_hires": 0.10,
        "rehire_min_gap_months": 3,
        "earliest_pre_window_hire": "2018-01",
    },
}


def effective_effects(cfg: SynthConfig) -> dict:
    """The effects a simulation uses: TRUE_EFFECTS, with each type in ``cfg.disable_programmes``
    switched off (hazard multiplier 1, no driver uplift) and, with ``cfg.extra_items``, the extra
    items' offsets (0) and drivers added to the survey section."""
    if not cfg.disable_programmes and not cfg.extra_items:
        return TRUE_EFFECTS
    eff = json.loads(json.dumps(TRUE_EFFECTS))
    for pt in cfg.disable_programmes:
        eff["programmes"][pt].update(hazard_multiplier=1.0, driver_uplift=0.0, disabled=True)
    if cfg.extra_items:
        extra = extra_survey_items(cfg.extra_items)
        sv = eff["survey"]
        sv["item_offsets"].update({it[0]: 0.0 for it in extra})
        sv["extra_items"] = {
            "count": cfg.extra_items,
            "drivers": {it[0]: it[1] for it in extra},
            "note": (
                "synthetic benchmark items Q22.. (SynthConfig.extra_items, --extra-items), round-robin over the six"
                " drivers: answered like the driver's other Likert items (offset 0, not reverse-scored, same item"
                " non-response), missing in partial responses"
            ),
        }
    return eff


# --------------------------------------------------------------------------------------
# Static catalogues
# --------------------------------------------------------------------------------------

SITES = (("BRU", "Brussels"), ("LIL", "Lille"), ("WAW", "Warsaw"))
FUNCTIONS = ("Billing", "Complaints", "Technical", "Sales")
LANGS = ("en", "fr", "nl", "ru", "pl")
SITE_LANGS = {  # site index -> (language index, probability)
    0: ((1, 0.50), (2, 0.35), (0, 0.15)),
    1: ((1, 0.85), (0, 0.15)),
    2: ((4, 0.75), (3, 0.15), (0, 0.10)),
}
SITE_PAY = (1.10, 1.02, 0.94)
ROLES = ("Customer Service Agent", "Senior Agent", "Complaints Specialist", "Team Leader")
SCHEDULES = ("Fixed", "Flexible", "Remote", "Hybrid")
SCHEDULE_P = (0.45, 0.20, 0.10, 0.25)
BANDS = ("B1", "B2", "B3", "B4")
BAND_BASE = (28600.0, 32500.0, 38500.0, 46000.0)
BAND_P_BY_ROLE = (
    (0.70, 0.30, 0.00, 0.00),
    (0.00, 0.60, 0.40, 0.00),
    (0.00, 0.70, 0.30, 0.00),
    (0.00, 0.00, 0.60, 0.40),
)
ROLE_P_OTHER = (0.75, 0.16, 0.00, 0.09)
ROLE_P_COMPLAINTS = (0.28, 0.08, 0.55, 0.09)
FTE_VALUES = (1.0, 0.8, 0.6)
FTE_P = (0.80, 0.15, 0.05)

EXIT_NONE, EXIT_VOL, EXIT_INV = 0, 1, 2
EXIT_TYPE_LABELS = ("", "Voluntary", "Involuntary")
VOL_REASONS = ("Better pay elsewhere", "Workload and stress", "Career change", "Relocation", "Schedule conflicts")
VOL_P = (0.30, 0.22, 0.20, 0.13, 0.15)
VOL_P_COMPLAINTS = (0.22, 0.40, 0.15, 0.10, 0.13)
INV_REASONS = ("Performance", "Attendance", "End of fixed-term contract", "Misconduct")
INV_P_FIRST_YEAR = (0.25, 0.20, 0.45, 0.10)
INV_P_LATER = (0.45, 0.30, 0.10, 0.15)
REASONS = VOL_REASONS + INV_REASONS  # reason code r -> REASONS[r]; -1 = none
REHIRE_ELIGIBLE_REASONS = (0, 2, 3, 4, 5 + 2)  # voluntary except workload; end of fixed-term

PROGRAMME_NAMES = {
    "mission": ("Beneficiary stories at team huddles", "Annual beneficiary brunch", "Thank-you letters from beneficiaries"),
    "recognition": ("Peer kudos board", "Quarterly customer-hero awards", "Team milestone celebrations"),
    "worklife": ("Flexible start times", "Overtime cap 8h/month", "Hybrid work 2 days"),
}

# (item_id, driver, reverse, scale, en, fr, nl, ru, pl)
SURVEY_ITEMS: tuple[tuple[str, str, bool, str, str, str, str, str, str], ...] = (
    ("Q01", "mission", False, "likert5",
     "I understand how my work helps our customers and the people we serve.",
     "Je comprends en quoi mon travail aide nos clients et les personnes que nous servons.",
     "Ik begrijp hoe mijn werk onze klanten en de mensen voor wie we werken helpt.",
     "Я понимаю, как моя работа помогает нашим клиентам и людям, ради которых мы работаем.",
     "Rozumiem, w jaki sposób moja praca pomaga naszym klientom i osobom, dla których pracujemy."),
    ("Q02", "mission", False, "likert5",
     "I am proud of what our organisation achieves.",
     "Je suis fier ou fière de ce que notre organisation accomplit.",
     "Ik ben trots op wat onze organisatie bereikt.",
     "Я горжусь тем, чего добивается наша организация.",
     "Jestem dumny lub dumna z tego, co osiąga nasza organizacja."),
    ("Q03", "mission", False, "likert5",
     "The work I do here matters.",
     "Le travail que je fais ici a du sens.",
     "Het werk dat ik hier doe, doet ertoe.",
     "Работа, которую я здесь выполняю, имеет значение.",
     "Praca, którą tu wykonuję, ma znaczenie."),
    ("Q04", "recognition", False, "likert5",
     "I receive recognition when I do good work.",
     "Je reçois de la reconnaissance lorsque je fais du bon travail.",
     "Ik krijg erkenning wanneer ik goed werk lever.",
     "Я получаю признание, когда хорошо выполняю свою работу.",
     "Otrzymuję uznanie, gdy dobrze wykonuję swoją pracę."),
    ("Q05", "recognition", False, "likert5",
     "My colleagues show appreciation for each other's contributions.",
     "Mes collègues expriment leur reconnaissance pour les contributions de chacun.",
     "Mijn collega's tonen waardering voor elkaars bijdragen.",
     "Мои коллеги выражают признательность за вклад друг друга.",
     "Moi współpracownicy okazują sobie nawzajem uznanie za wkład w pracę."),
    ("Q06", "recognition", False, "likert5",
     "Customer feedback about my work is shared with me.",
     "Les retours des clients sur mon travail me sont communiqués.",
     "Feedback van klanten over mijn werk wordt met mij gedeeld.",
     "Со мной делятся отзывами клиентов о моей работе.",
     "Opinie klientów na temat mojej pracy są mi przekazywane."),
    ("Q07", "worklife", False, "likert5",
     "My schedule allows me to balance work and personal life.",
     "Mon planning me permet de concilier vie professionnelle et vie privée.",
     "Mijn rooster laat me toe werk en privéleven in evenwicht te houden.",
     "Мой график позволяет мне совмещать работу и личную жизнь.",
     "Mój grafik pozwala mi pogodzić pracę z życiem prywatnym."),
    ("Q08", "worklife", False, "likert5",
     "I can take the breaks I need during my shift.",
     "Je peux prendre les pauses dont j'ai besoin pendant mon service.",
     "Ik kan tijdens mijn dienst de pauzes nemen die ik nodig heb.",
     "Во время смены я могу делать необходимые мне перерывы.",
     "W trakcie zmiany mogę robić przerwy, których potrzebuję."),
    ("Q09", "worklife", True, "likert5",
     "I often feel exhausted at the end of my shift.",
     "Je me sens souvent épuisé ou épuisée à la fin de mon service.",
     "Ik voel me vaak uitgeput aan het einde van mijn dienst.",
     "К концу смены я часто чувствую себя измотанным или измотанной.",
     "Pod koniec zmiany często czuję się wyczerpany lub wyczerpana."),
    ("Q10", "growth", False, "likert5",
     "I have opportunities to learn and develop here.",
     "J'ai ici des possibilités d'apprendre et de progresser.",
     "Ik krijg hier kansen om te leren en me te ontwikkelen.",
     "У меня есть возможности учиться и развиваться здесь.",
     "Mam tu możliwości nauki i rozwoju."),
    ("Q11", "growth", False, "likert5",
     "I can see a future career path for myself in this organisation.",
     "J'entrevois pour moi une évolution de carrière dans cette organisation.",
     "Ik zie voor mezelf een loopbaan binnen deze organisatie.",
     "Я вижу для себя перспективы карьерного роста в этой организации.",
     "Widzę dla siebie ścieżkę kariery w tej organizacji."),
    ("Q12", "autonomy", False, "likert5",
     "I have the freedom to decide how best to resolve a customer's issue.",
     "J'ai la liberté de décider de la meilleure façon de résoudre le problème d'un client.",
     "Ik ben vrij om te beslissen hoe ik het probleem van een klant het best oplos.",
     "Я могу сам или сама решать, как лучше всего решить проблему клиента.",
     "Mam swobodę decydowania, jak najlepiej rozwiązać problem klienta."),
    ("Q13", "autonomy", False, "likert5",
     "I have a say in how my work is organised.",
     "J'ai mon mot à dire sur l'organisation de mon travail.",
     "Ik heb inspraak in hoe mijn werk georganiseerd wordt.",
     "Я могу влиять на то, как организована моя работа.",
     "Mam wpływ na to, jak zorganizowana jest moja praca."),
    ("Q14", "manager", False, "likert5",
     "My team leader supports me when I face difficult calls.",
     "Mon chef d'équipe me soutient lorsque je dois gérer des appels difficiles.",
     "Mijn teamleider steunt me wanneer ik moeilijke gesprekken krijg.",
     "Мой руководитель группы поддерживает меня, когда мне попадаются сложные звонки.",
     "Mój lider zespołu wspiera mnie, gdy mam do czynienia z trudnymi rozmowami."),
    ("Q15", "manager", False, "likert5",
     "My team leader gives me useful feedback.",
     "Mon chef d'équipe me donne des retours utiles.",
     "Mijn teamleider geeft me nuttige feedback.",
     "Мой руководитель группы даёт мне полезную обратную связь.",
     "Mój lider zespołu przekazuje mi przydatne informacje zwrotne."),
    ("Q16", "manager", False, "likert5",
     "My team leader cares about my wellbeing.",
     "Mon chef d'équipe se soucie de mon bien-être.",
     "Mijn teamleider bekommert zich om mijn welzijn.",
     "Мой руководитель группы заботится о моём благополучии.",
     "Mojemu liderowi zespołu zależy na moim dobrym samopoczuciu."),
    ("Q17", "engagement", False, "likert5",
     "I feel enthusiastic about my work.",
     "Mon travail m'enthousiasme.",
     "Ik ben enthousiast over mijn werk.",
     "Я с энтузиазмом отношусь к своей работе.",
     "Moja praca wzbudza we mnie entuzjazm."),
    ("Q18", "engagement", False, "likert5",
     "I feel a strong sense of belonging to this organisation.",
     "J'ai un fort sentiment d'appartenance à cette organisation.",
     "Ik voel me sterk verbonden met deze organisatie.",
     "Я ощущаю сильную связь с этой организацией.",
     "Czuję silną więź z tą organizacją."),
    ("Q19", "intent_to_stay", False, "likert5",
     "I expect to be working here a year from now.",
     "Je pense toujours travailler ici dans un an.",
     "Ik verwacht hier over een jaar nog te werken.",
     "Я рассчитываю, что через год всё ещё буду работать здесь.",
     "Spodziewam się, że za rok nadal będę tu pracować."),
    ("Q20", "enps", False, "nps11",
     "How likely are you to recommend us as a place to work?",
     "Quelle est la probabilité que vous recommandiez notre organisation comme employeur ?",
     "Hoe waarschijnlijk is het dat u ons als werkgever zou aanbevelen?",
     "Насколько вероятно, что вы порекомендуете нас как место работы?",
     "Jak bardzo prawdopodobne jest, że polecisz nas jako miejsce pracy?"),
)
ITEM_IDS = tuple(it[0] for it in SURVEY_ITEMS)
# Generic texts of the extra benchmark items (--extra-items): language -> (template, driver names)
_EXTRA_ITEM_TEXT = {
    "en": ("Additional pulse item {k} on {d} (benchmark).",
           ("mission", "recognition", "work-life balance", "growth", "autonomy", "manager")),
    "fr": ("Question supplémentaire {k} sur le thème « {d} » (benchmark).",
           ("mission", "reconnaissance", "équilibre vie professionnelle-vie privée", "développement", "autonomie",
            "manager")),
    "nl": ("Extra pulsvraag {k} over het thema '{d}' (benchmark).",
           ("missie", "erkenning", "balans werk-privé", "groei", "autonomie", "leidinggevende")),
    "ru": ("Дополнительный вопрос {k} по теме «{d}» (бенчмарк).",
           ("миссия", "признание", "баланс работы и личной жизни", "развитие", "автономия", "руководитель")),
    "pl": ("Dodatkowe pytanie {k} na temat: {d} (benchmark).",
           ("misja", "uznanie", "równowaga między pracą a życiem prywatnym", "rozwój", "autonomia", "przełożony")),
}


def extra_survey_items(k: int) -> tuple[tuple[str, str, bool, str, str, str, str, str, str], ...]:
    """The ``k`` extra benchmark items in SURVEY_ITEMS' shape: Q22, Q23, ... (Q21 is the comment
    Q21_TEXT), driver DRIVERS[i % 6], not reverse-scored, likert5, plainly synthetic texts."""
    out = []
    for i in range(k):
        d = i % len(DRIVERS)
        n = i // len(DRIVERS) + 1
        texts = [tpl.format(k=n, d=names[d]) for tpl, names in (_EXTRA_ITEM_TEXT[lang] for lang in LANGS)]
        out.append((f"Q{22 + i}", DRIVERS[d], False, "likert5", *texts))
    return tuple(out)


def survey_items(cfg: SynthConfig) -> tuple[tuple[str, str, bool, str, str, str, str, str, str], ...]:
    """The survey's items in answer-column order: SURVEY_ITEMS (Q01..Q20), then the extra items Q22.."""
    return SURVEY_ITEMS + extra_survey_items(cfg.extra_items)
LIKERT_EN = ("Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree")
LIKERT_PL = (
    "Zdecydowanie się nie zgadzam",
    "Nie zgadzam się",
    "Ani się zgadzam, ani się nie zgadzam",
    "Zgadzam się",
    "Zdecydowanie się zgadzam",
)
Q21_TEXT_EN = "Is there anything else you would like to tell us?"

COMMENTS = {
    "en": (
        "More staff on the evening shift, please.",
        "Too much overtime lately, I'm exhausted.",
        "My team leader is great, always there when a call goes wrong.",
        "Breaks get cut short whenever the queue is long.",
        "Please fix the CRM, it freezes twice a day.",
        'Customers shout at us and nobody says "thank you" internally.',
        "Good colleagues, but the pay is not keeping up with prices.",
        "Training on the new tools was too short, we learned on the job.",
        "I like hearing what happens to the people we help.",
        "Schedules are published too late, I can't plan anything.",
        "Nothing to add.",
    ),
    "fr": (
        "Les horaires flexibles, c'est vraiment un plus.",
        "Trop d'appels de réclamation, pas assez de pauses.",
        "Merci pour le tableau de félicitations, ça motive.",
        "Le logiciel plante souvent, on perd du temps.",
        "Plus de télétravail, s'il vous plaît.",
        "Rien à signaler.",
    ),
    "nl": (
        "Fijn team, maar de werkdruk is hoog.",
        "Meer thuiswerk zou helpen.",
        "De roosters komen te laat, ik kan niets plannen.",
        "Goede teamleider, die luistert echt.",
        "Niets toe te voegen.",
    ),
}

# name lists: (first names with gender) and (last names male / female forms)
_FIRST = {
    "en": [("James", "m"), ("Olivia", "f"), ("Daniel", "m"), ("Emma", "f"), ("Thomas", "m"), ("Sophie", "f"),
           ("Michael", "m"), ("Chloe", "f"), ("David", "m"), ("Hannah", "f"), ("Ryan", "m"), ("Grace", "f"),
           ("Samuel", "m"), ("Lucy", "f"), ("Adam", "m"), ("Megan", "f"), ("Jack", "m"), ("Emily", "f"),
           ("Liam", "m"), ("Amy", "f")],
    "fr": [("Lucas", "m"), ("Camille", "f"), ("Hugo", "m"), ("Léa", "f"), ("Louis", "m"), ("Manon", "f"),
           ("Nathan", "m"), ("Chloé", "f"), ("Théo", "m"), ("Inès", "f"), ("Antoine", "m"), ("Julie", "f"),
           ("Maxime", "m"), ("Sarah", "f"), ("Julien", "m"), ("Émilie", "f"), ("Nicolas", "m"), ("Laura", "f"),
           ("Mathis", "m"), ("Océane", "f")],
    "nl": [("Daan", "m"), ("Lotte", "f"), ("Sem", "m"), ("Fien", "f"), ("Lars", "m"), ("Noor", "f"),
           ("Jens", "m"), ("Lies", "f"), ("Wout", "m"), ("Sanne", "f"), ("Pieter", "m"), ("Elke", "f"),
           ("Bram", "m"), ("Marieke", "f"), ("Joris", "m"), ("Anouk", "f"), ("Thijs", "m"), ("Ine", "f"),
           ("Stijn", "m"), ("Femke", "f")],
    "ru": [("Dmitrij", "m"), ("Anna", "f"), ("Siergiej", "m"), ("Olga", "f"), ("Aleksandr", "m"), ("Natalia", "f"),
           ("Andriej", "m"), ("Jelena", "f"), ("Michaił", "m"), ("Tatiana", "f"), ("Iwan", "m"), ("Irina", "f"),
           ("Nikołaj", "m"), ("Swietłana", "f"), ("Władimir", "m"), ("Maria", "f"), ("Aleksiej", "m"),
           ("Jekatierina", "f"), ("Igor", "m"), ("Julia", "f")],
    "pl": [("Jakub", "m"), ("Anna", "f"), ("Piotr", "m"), ("Katarzyna", "f"), ("Łukasz", "m"), ("Małgorzata", "f"),
           ("Tomasz", "m"), ("Agnieszka", "f"), ("Michał", "m"), ("Magdalena", "f"), ("Paweł", "m"), ("Joanna", "f"),
           ("Krzysztof", "m"), ("Aleksandra", "f"), ("Mateusz", "m"), ("Zofia", "f"), ("Bartosz", "m"),
           ("Natalia", "f"), ("Wojciech", "m"), ("Ewa", "f")],
}


def _ru_f(s: str) -> str:
    return s + "a"


def _pl_f(s: str) -> str:
    return s[:-1] + "a" if s.endswith(("ski", "cki", "dzki")) else s


_LAST_BASE = {
    "en": ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Walker", "Wright", "Roberts",
           "Hughes", "Green", "Hall", "Clarke", "Turner", "Harris", "Cooper", "Ward", "Morgan", "Bennett"],
    "fr": ["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Laurent", "Simon", "Michel", "Leroy", "Roux",
           "David", "Bertrand", "Morel", "Fournier", "Girard", "Lambert", "Dupont", "Mercier", "Fontaine", "Chevalier"],
    "nl": ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "De Smet",
           "Vermeulen", "Van den Broeck", "Hermans", "Aerts", "Pauwels", "Verstraeten", "De Backer", "Lemmens",
           "Coppens", "Van Damme"],
    "ru": ["Iwanow", "Smirnow", "Kuzniecow", "Popow", "Wasiljew", "Pietrow", "Sokołow", "Michajłow", "Nowikow",
           "Fiodorow", "Morozow", "Wołkow", "Aleksiejew", "Lebiediew", "Siemionow", "Jegorow", "Pawłow", "Kozłow",
           "Stiepanow", "Nikołajew"],
    "pl": ["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński",
           "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur", "Wojciechowski", "Kwiatkowski",
           "Krawczyk", "Kaczmarek", "Piotrowski", "Grabowski"],
}
_LAST_F = {"ru": _ru_f, "pl": _pl_f}

EMAIL_DOMAIN = "example.com"
XLSX_CREATED = dt.datetime(2026, 1, 1, 0, 0, 0)
TIMEZONE = "Europe/Brussels"

# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _parse_quarter(s: str) -> tuple[int, int]:
    s = s.strip().upper()
    if len(s) != 6 or s[4] != "Q" or not s[:4].isdigit() or s[5] not in "1234":
        raise ValueError(f"quarter must look like 2023Q4, got {s!r}")
    return int(s[:4]), int(s[5])


def _quarter_label(month0: np.datetime64, q: int) -> str:
    m = month0 + 3 * q
    y = int(str(m)[:4])
    mm = int(str(m)[5:7])
    return f"{y}Q{(mm - 1) // 3 + 1}"


def _ascii(s: str) -> str:
    s = s.replace("ł", "l").replace("Ł", "L")
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    return "".join(ch for ch in s.lower() if ch.isalnum())


def _name_tables():
    first, first_gender, first_email, f_off, f_len = [], [], [], [], []
    last_m, last_f, lm_email, lf_email, l_off, l_len = [], [], [], [], [], []
    for lang in LANGS:
        f_off.append(len(first))
        f_len.append(len(_FIRST[lang]))
        for n, g in _FIRST[lang]:
            first.append(n)
            first_gender.append(g == "f")
            first_email.append(_ascii(n))
        l_off.append(len(last_m))
        l_len.append(len(_LAST_BASE[lang]))
        fem = _LAST_F.get(lang, lambda x: x)
        for n in _LAST_BASE[lang]:
            last_m.append(n)
            last_f.append(fem(n))
            lm_email.append(_ascii(n))
            lf_email.append(_ascii(fem(n)))
    return {
        "first": first, "first_female": np.array(first_gender), "first_email": first_email,
        "f_off": np.array(f_off), "f_len": np.array(f_len),
        "last_m": last_m, "last_f": last_f, "lm_email": lm_email, "lf_email": lf_email,
        "l_off": np.array(l_off), "l_len": np.array(l_len),
    }


def _choice_cdf(rng: np.random.Generator, probs, n: int) -> np.ndarray:
    """Vectorised categorical draw with one probability vector."""
    cdf = np.cumsum(np.asarray(probs, dtype=float))
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int8)


def _choice_rows(u: np.ndarray, prob_rows: np.ndarray) -> np.ndarray:
    """Categorical draw where each row has its own probability vector (prob_rows n x k)."""
    cdf = np.cumsum(prob_rows, axis=1)
    cdf /= cdf[:, -1:]
    return (u[:, None] >= cdf).sum(axis=1).clip(0, prob_rows.shape[1] - 1).astype(np.int8)


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5)


def _fixed(col: str, decimals: int) -> pl.Expr:
    """Format a non-negative integer column holding value*10^decimals as fixed-point text."""
    s = 10**decimals
    return pl.concat_str(
        [(pl.col(col) // s).cast(pl.String), pl.lit("."), (pl.col(col) % s).cast(pl.String).str.zfill(decimals)]
    )


class _Table:
    """Column store with amortised append (rows = leading axis)."""

    def __init__(self, capacity: int):
        self.cap = max(int(capacity), 16)
        self.n = 0
        self.cols: dict[str, np.ndarray] = {}

    def append(self, **cols: np.ndarray) -> np.ndarray:
        k = len(next(iter(cols.values())))
        if self.cols and self.n + k > self.cap:
            new_cap = max(2 * self.cap, self.n + k)
            for name, a in self.cols.items():
                b = np.empty((new_cap,) + a.shape[1:], a.dtype)
                b[: self.n] = a[: self.n]
                self.cols[name] = b
            self.cap = new_cap
        if not self.cols:
            self.cap = max(self.cap, k)
            for name, v in cols.items():
                self.cols[name] = np.empty((self.cap,) + np.shape(v)[1:], np.asarray(v).dtype)
        for name, v in cols.items():
            self.cols[name][self.n : self.n + k] = v
        start = self.n
        self.n += k
        return np.arange(start, self.n)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name][: self.n]


# --------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------


@dataclass
class Simulation:
    """The simulated organisation: latent truth as NumPy arrays (spell = one employment spell)."""

    cfg: SynthConfig
    effects: dict
    # calendar
    month0: np.datetime64  # first month of the window (datetime64[M])
    months: np.ndarray  # (M,) datetime64[M]
    quarter_labels: list[str]
    wave_dates: np.ndarray  # (Q,) datetime64[D]
    # organisation
    team_names: list[str]
    team_site: np.ndarray  # (T,) site index into SITES
    team_function: np.ndarray  # (T,) index into FUNCTIONS
    team_is_complaints: np.ndarray  # (T,) bool
    team_initial_target: np.ndarray  # (T,)
    team_response_logit: np.ndarray  # (T,)
    programmes: list[dict]  # rows: team, type, name, start (date), end (date|None)
    prog_month_active: np.ndarray  # (T, M, 3) bool
    prog_wave_active: np.ndarray  # (T, Q, 3) bool
    # people
    person_number: np.ndarray  # (P,) int64, Employee ID number
    person_lang: np.ndarray  # (P,) index into LANGS
    person_first: np.ndarray  # (P,) index into names["first"]
    person_last: np.ndarray  # (P,) index into names last lists
    person_female: np.ndarray  # (P,) bool
    person_frailty: np.ndarray  # (P,)
    person_overtime_mean: np.ndarray  # (P,) hours/month (before team factor and FTE)
    person_engagement_offset: np.ndarray  # (P,)
    person_response_offset: np.ndarray  # (P,)
    # spells
    spell_person: np.ndarray  # (S,) index into person arrays
    spell_team: np.ndarray
    spell_role: np.ndarray
    spell_schedule: np.ndarray
    spell_band: np.ndarray
    spell_salary: np.ndarray
    spell_fte: np.ndarray
    spell_rehire: np.ndarray  # (S,) bool: second spell of a person
    hire_date: np.ndarray  # (S,) datetime64[D]
    exit_date: np.ndarray  # (S,) datetime64[D], NaT = still employed at window end
    exit_type: np.ndarray  # (S,) 0 none, 1 voluntary, 2 involuntary
    exit_reason: np.ndarray  # (S,) index into REASONS, -1 none
    hire_month: np.ndarray  # (S,) month index relative to window start (negative = before)
    exit_month: np.ndarray  # (S,) month index, or M (sentinel) when no exit in the window
    # latent truth (float32)
    drivers: np.ndarray  # (S, Q, 6) latent driver scores per wave quarter
    engagement: np.ndarray  # (S, Q)
    intent: np.ndarray  # (S, Q)
    overtime_tenths: np.ndarray  # (S, M) recorded overtime hours * 10 (0 when not employed)
    hours_tenths: np.ndarray  # (S, M) recorded hours worked * 10
    complaint_pct: np.ndarray  # (S, M) complaint share * 100
    # at-risk person-month panel (one row per spell and month at risk of exit)
    pm_spell: np.ndarray
    pm_month: np.ndarray
    pm_event: np.ndarray  # 0 stay, 1 voluntary exit, 2 involuntary exit
    pm_overtime_prev: np.ndarray  # overtime hours used as exposure
    # monthly realised series
    headcount_end: np.ndarray  # (M,) employed at the end of each month
    hires: np.ndarray  # (M,)
    exits_vol: np.ndarray  # (M,)
    exits_inv: np.ndarray  # (M,)
    names: dict = field(repr=False, default_factory=dict)
    survey_seeds: list = field(repr=False, default_factory=list)
    counterfactual: "ProgrammeCounterfactual | None" = field(repr=False, default=None)

    @property
    def n_spells(self) -> int:
        return len(self.spell_person)

    @property
    def n_people(self) -> int:
        return len(self.person_number)

    @property
    def id_width(self) -> int:
        # 6 digits for the demo, 7 at 1M employees (and never too narrow for the largest number)
        return max(6, len(str(int(self.cfg.employees * 1.5))), len(str(int(self.person_number.max()))))

    def employee_ids(self, spells: np.ndarray | None = None) -> pl.Series:
        nums = self.person_number[self.spell_person if spells is None else self.spell_person[spells]]
        return _ids(nums, self.id_width)

    def employed_on(self, date: np.datetime64) -> np.ndarray:
        """Boolean mask over spells: employed on that date (hire <= date <= termination)."""
        d = np.datetime64(date, "D")
        return (self.hire_date <= d) & (np.isnat(self.exit_date) | (self.exit_date >= d))

    def person_months(self) -> pl.DataFrame:
        """The at-risk person-month panel with the true covariates of the hazard model."""
        s = self.pm_spell
        m = self.pm_month
        q = m // 3
        d = self.drivers[s, q, :]
        t = self.spell_team[s]
        k = m - self.hire_month[s]
        cols = {
            "spell": s,
            "person": self.spell_person[s],
            "team": t,
            "month": m,
            "tenure_months": k,
            "complaints_team": self.team_is_complaints[t],
            "overtime_prev": self.pm_overtime_prev,
            "frailty": self.person_frailty[self.spell_person[s]],
        }
        for j, name in enumerate(DRIVERS):
            cols[name] = d[:, j]
        for j, name in enumerate(PROGRAMME_TYPES):
            cols[f"programme_{name}"] = self.prog_month_active[t, m, j]
        cols["event"] = self.pm_event
        return pl.DataFrame(cols)


@dataclass
class ProgrammeCounterfactual:
    """What each programme type changed, as expectations over the simulated population.

    Recorded by ``simulate(cfg, counterfactual=True)``. For every at-risk person-month the
    voluntary exit probability P = (1 - exp(-(h_vol + h_inv))) * h_vol / (h_vol + h_inv) is
    evaluated twice: with the hazard the simulation used, and with programme type j switched off
    (its hazard multiplier removed and its driver uplift taken out of the latent score before
    clipping to 1-5), everything else (people, tenure, overtime, frailty, other programmes) as
    realised. Summed per team and month these are expected voluntary exits.
    """

    expected_voluntary_exits: np.ndarray  # (T, M)
    expected_voluntary_exits_without: np.ndarray  # (T, M, len(PROGRAMME_TYPES))
    drivers_without: np.ndarray  # (S, Q, len(PROGRAMME_TYPES)) float32: latent score of type j's driver without j


def _p_voluntary(hv: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """P(voluntary exit in the month) under the two competing monthly hazards."""
    return -np.expm1(-(hv + hi)) * hv / (hv + hi)


def _ids(nums: np.ndarray, width: int) -> pl.Series:
    return pl.select(
        pl.concat_str([pl.lit("E"), pl.lit(pl.Series(nums)).cast(pl.String).str.zfill(width)])
    ).to_series()


def _team_layout(n: int):
    names, site, func = [], [], []
    for i in range(n):
        s = i // 4 % 3 if n == 12 else i % 3
        f = i % 4 if n == 12 else (i // 3) % 4
        suffix = i // 12 + 1
        code = SITES[s][0]
        names.append(f"{code}-{FUNCTIONS[f]}" + ("" if suffix == 1 else f"-{suffix}"))
        site.append(s)
        func.append(f)
    return names, np.array(site, dtype=np.int8), np.array(func, dtype=np.int8)


def _rollout(rng: np.random.Generator, cfg: SynthConfig, month0: np.datetime64, team_names, Q: int):
    """Staggered adoption: per type a third of teams in one quarter, a third 2-3 quarters later, a third never."""
    T = len(team_names)
    rows = []
    for pt in PROGRAMME_TYPES:
        perm = rng.permutation(T)
        n1 = int(round(T / 3))
        n2 = int(round(T / 3)) if T >= 3 else 0
        s1 = 3 + int(rng.integers(0, 3))
        s2 = s1 + int(rng.integers(2, 4))
        day_offsets = rng.integers(0, 15, size=T)
        replace_after = 2 + int(rng.integers(0, 2))  # quarters until the replacement programme
        cohorts = [(perm[:n1], s1, 0), (perm[n1 : n1 + n2], s2, 1)]
        for c_i, (teams_c, sq, name_i) in enumerate(cohorts):
            if sq >= Q:
                continue
            for j, t in enumerate(sorted(teams_c.tolist(), key=lambda x: team_names[x])):
                first_day = (month0 + 3 * sq).astype("datetime64[D]") + int(day_offsets[t])
                start = np.busday_offset(first_day, 0, roll="forward", weekmask="Mon")
                if pt == "worklife":
                    nm = PROGRAMME_NAMES[pt][(j + c_i) % 3]
                else:
                    nm = PROGRAMME_NAMES[pt][name_i]
                replaced = c_i == 0 and t == perm[0] and len(teams_c) >= 2 and sq + replace_after < Q
                if replaced:
                    new_start_first = (month0 + 3 * (sq + replace_after)).astype("datetime64[D]") + int(day_offsets[t])
                    new_start = np.busday_offset(new_start_first, 0, roll="forward", weekmask="Mon")
                    end = new_start - np.timedelta64(1, "D")
                    rows.append(dict(team=t, type=pt, name=nm, start=start, end=end))
                    if pt == "worklife":
                        nm2 = PROGRAMME_NAMES[pt][(j + c_i + 1) % 3]
                    else:
                        nm2 = PROGRAMME_NAMES[pt][2]
                    rows.append(dict(team=t, type=pt, name=nm2, start=new_start, end=None))
                else:
                    rows.append(dict(team=t, type=pt, name=nm, start=start, end=None))
    return rows


def _latent(P: _Table, p: np.ndarray, t: np.ndarray, q: int, team_eff, team_shock, uplift) -> np.ndarray:
    x = P["mu"][p] + P["ar"][p, q, :] + team_eff[t] + team_shock[t, q, :] + uplift[t, q, :]
    return np.clip(x, 1.0, 5.0)


def simulate(
    cfg: SynthConfig, progress: Callable[[str], None] | None = None, *, counterfactual: bool = False
) -> Simulation:
    """Run the monthly simulation (no files written).

    ``counterfactual=True`` also records, without drawing any extra random number (so the
    simulated organisation is the same), what every programme type changed: see
    :class:`ProgrammeCounterfactual` and :func:`programme_truth`.
    """
    say = progress or (lambda _m: None)
    E = effective_effects(cfg)
    ve = E["voluntary_hazard"]
    ie = E["involuntary_hazard"]
    le = E["latent_drivers"]
    wf = E["workforce"]

    ss = np.random.SeedSequence(cfg.seed)
    s_org, s_person, s_spell, s_hire, s_exit, s_survey = ss.spawn(6)
    rng_org = np.random.default_rng(s_org)
    rng_person = np.random.default_rng(s_person)
    rng_spell = np.random.default_rng(s_spell)
    rng_hire = np.random.default_rng(s_hire)
    rng_exit = np.random.default_rng(s_exit)

    y0, q0 = _parse_quarter(cfg.start_quarter)
    month0 = np.datetime64(f"{y0:04d}-{3 * (q0 - 1) + 1:02d}", "M")
    Q = cfg.quarters
    M = 3 * Q
    months = month0 + np.arange(M)
    month_first = months.astype("datetime64[D]")
    dim = ((months + 1).astype("datetime64[D]") - month_first).astype(np.int64)
    quarter_labels = [_quarter_label(month0, q) for q in range(Q)]
    wave_dates = (month0 + 3 * np.arange(Q) + 1).astype("datetime64[D]") + np.timedelta64(14, "D")
    earliest = np.datetime64(wf["earliest_pre_window_hire"], "M")
    max_pre = int((month0 - earliest).astype(int))

    # ---- organisation ----
    T = cfg.teams
    team_names, team_site, team_function = _team_layout(T)
    is_compl = team_function == 1
    years = M / 12.0
    k_people = 1.0 + years * 0.39  # new people per initial head per year (approx., empirical)
    H0 = max(T, int(round(cfg.employees / k_people)))
    w = rng_org.uniform(0.8, 1.2, T)
    team_target0 = np.floor(H0 * w / w.sum()).astype(np.int64)
    team_target0[: H0 - team_target0.sum()] += 1
    D6 = len(DRIVERS)
    beta = np.log(np.array([ve["hazard_ratio_per_point"][d] for d in DRIVERS]))
    team_sd = np.full(D6, le["team_effect_sd"])
    team_sd[DRIVERS.index("manager")] = le["team_effect_sd_manager"]
    team_eff = rng_org.normal(0.0, 1.0, (T, D6)) * team_sd
    rho_t, sd_t = le["team_quarter_shock_rho"], le["team_quarter_shock_sd"]
    team_shock = np.empty((T, Q, D6))
    team_shock[:, 0] = rng_org.normal(0, sd_t, (T, D6))
    for q in range(1, Q):
        team_shock[:, q] = rho_t * team_shock[:, q - 1] + rng_org.normal(0, sd_t * math.sqrt(1 - rho_t**2), (T, D6))
    team_ot = np.where(is_compl, 1.3, 1.0) * rng_org.uniform(0.85, 1.15, T)
    team_resp = rng_org.normal(math.log(0.76 / 0.24), 0.30, T)
    programmes = _rollout(rng_org, cfg, month0, team_names, Q)
    prog_month = np.zeros((T, M, 3), dtype=bool)
    prog_wave = np.zeros((T, Q, 3), dtype=bool)
    for r in programmes:
        j = PROGRAMME_TYPES.index(r["type"])
        sm = int((r["start"].astype("datetime64[M]") - month0).astype(int))
        em = M - 1 if r["end"] is None else int((r["end"].astype("datetime64[M]") - month0).astype(int))
        prog_month[r["team"], max(sm, 0) : em + 1, j] = True
        ok = wave_dates >= r["start"]
        if r["end"] is not None:
            ok &= wave_dates <= r["end"]
        prog_wave[r["team"], ok, j] = True
    uplift = np.zeros((T, Q, D6))
    prog_log = np.zeros((T, M))
    for j, pt in enumerate(PROGRAMME_TYPES):
        pe = E["programmes"][pt]
        uplift[:, :, DRIVERS.index(pe["driver"])] += prog_wave[:, :, j] * pe["driver_uplift"]
        prog_log += prog_month[:, :, j] * math.log(pe["hazard_multiplier"])
    # counterfactual bookkeeping (no random draws): each type's driver column, uplift and log multiplier
    cf_col = [DRIVERS.index(E["programmes"][pt]["driver"]) for pt in PROGRAMME_TYPES]
    cf_uplift = [prog_wave[:, :, j] * E["programmes"][pt]["driver_uplift"] for j, pt in enumerate(PROGRAMME_TYPES)]
    cf_log = [prog_month[:, :, j] * math.log(E["programmes"][pt]["hazard_multiplier"]) for j, pt in enumerate(PROGRAMME_TYPES)]
    cf_exits = np.zeros((T, M)) if counterfactual else None
    cf_exits_without = np.zeros((T, M, len(PROGRAMME_TYPES))) if counterfactual else None

    names = _name_tables()
    log_tenure1 = math.log(ve["tenure_multipliers"]["first_90_days"]["hazard_ratio"])
    log_tenure2 = math.log(ve["tenure_multipliers"]["months_4_to_6"]["hazard_ratio"])
    log_burn = math.log(ve["complaints_burnout"]["hazard_ratio"])
    b_ot = math.log(ve["hazard_ratio_overtime_per_10h"])
    log_trend = math.log(ve["calendar_trend_per_year"])
    person_mean = np.array([le["person_mean"][d] for d in DRIVERS])
    rho_p, sd_p = le["person_quarter_ar1_rho"], le["person_quarter_ar1_sd"]

    P = _Table(cfg.employees * 1.25 + 64)
    S = _Table(cfg.employees * 1.35 + 64)

    def draw_people(site: np.ndarray) -> dict:
        k = len(site)
        r = rng_person
        lang = np.empty(k, dtype=np.int8)
        u = r.random(k)
        for s_i, opts in SITE_LANGS.items():
            sel = site == s_i
            if sel.any():
                li = np.array([o[0] for o in opts], dtype=np.int8)
                cdf = np.cumsum([o[1] for o in opts])
                lang[sel] = li[np.searchsorted(cdf / cdf[-1], u[sel], side="right").clip(0, len(li) - 1)]
        first = names["f_off"][lang] + np.floor(r.random(k) * names["f_len"][lang]).astype(np.int64)
        last = names["l_off"][lang] + np.floor(r.random(k) * names["l_len"][lang]).astype(np.int64)
        g = r.normal(0, le["common_factor_sd"], (k, 1))
        mu = person_mean + g + r.normal(0, le["specific_sd"], (k, D6))
        ar = np.empty((k, Q, D6), dtype=np.float32)
        ar[:, 0] = r.normal(0, sd_p, (k, D6))
        for q in range(1, Q):
            ar[:, q] = rho_p * ar[:, q - 1] + r.normal(0, sd_p * math.sqrt(1 - rho_p**2), (k, D6))
        return dict(
            lang=lang,
            first=first,
            last=last,
            female=names["first_female"][first],
            mu=mu.astype(np.float32),
            ar=ar,
            frailty=r.normal(0, ve["frailty_sd"], k).astype(np.float32),
            ot_mean=r.gamma(1.5, 5.5, k).astype(np.float32),
            eng_off=r.normal(0, E["engagement"]["person_offset_sd"], k).astype(np.float32),
            resp_off=r.normal(0, 0.5, k).astype(np.float32),
            intent_noise=r.normal(0, E["intent_to_stay"]["noise_sd"], (k, Q)).astype(np.float32),
            nspells=np.ones(k, dtype=np.int8),
        )

    def new_people(site: np.ndarray) -> np.ndarray:
        return P.append(**draw_people(site))

    def new_spells(person: np.ndarray, team: np.ndarray, hire_day: np.ndarray, rehire: np.ndarray) -> np.ndarray:
        k = len(person)
        r = rng_spell
        role_p = np.where(is_compl[team][:, None], np.array(ROLE_P_COMPLAINTS), np.array(ROLE_P_OTHER))
        role = _choice_rows(r.random(k), role_p)
        band = _choice_rows(r.random(k), np.array(BAND_P_BY_ROLE)[role])
        sched = _choice_cdf(r, SCHEDULE_P, k)
        fte = np.array(FTE_VALUES)[_choice_cdf(r, FTE_P, k)]
        sal = np.array(BAND_BASE)[band] * np.array(SITE_PAY)[team_site[team]] * (1 + r.normal(0, 0.04, k))
        sal = (np.round(sal / 10.0) * 10).clip(26000, 55000).astype(np.int64)
        cbase = np.where(is_compl[team], r.uniform(0.6, 0.9, k), r.uniform(0.05, 0.20, k))
        cs = np.clip(cbase[:, None] + r.normal(0, 0.04, (k, M)), 0, 1)
        ot_mean = P["ot_mean"][person] * team_ot[team] * fte
        ot_rate = ot_mean[:, None] * r.gamma(3.0, 1.0 / 3.0, (k, M + 1))
        hours_noise = r.normal(0, 0.05, (k, M))
        hire_month = (hire_day.astype("datetime64[M]") - month0).astype(np.int64)
        return S.append(
            person=person.astype(np.int64),
            team=team.astype(np.int16),
            role=role,
            band=band,
            schedule=sched,
            fte=fte.astype(np.float32),
            salary=sal,
            rehire=rehire,
            hire_day=hire_day.astype("datetime64[D]"),
            hire_month=hire_month,
            exit_day=np.full(k, np.datetime64("NaT"), dtype="datetime64[D]"),
            exit_month=np.full(k, M, dtype=np.int64),
            exit_type=np.zeros(k, dtype=np.int8),
            reason=np.full(k, -1, dtype=np.int8),
            cs_pct=_round_half_up(cs * 100).astype(np.int16),
            ot_rate=ot_rate.astype(np.float32),
            hours_noise=hours_noise.astype(np.float32),
        )

    # ---- initial workforce (employed at window start, hired 2018..) ----
    # Drawn from the steady state of the hazard model: candidates are weighted by their expected
    # tenure (1 / hazard) and get a tenure from the matching (truncated) geometric distribution, so
    # the workforce at window start is already survivor-selected and turnover does not drift by
    # composition alone.
    say(f"simulating: {H0} employed at start, {T} teams, {M} months")
    n_cand = 4 * H0
    cand_team = np.repeat(np.arange(T), 4 * team_target0)
    cand = draw_people(team_site[cand_team])
    x0 = np.clip(
        cand["mu"] + cand["ar"][:, 0, :] + team_eff[cand_team] + team_shock[cand_team, 0, :] + uplift[cand_team, 0, :],
        1.0,
        5.0,
    )
    lin0 = (x0 - 3.0) @ beta + b_ot * cand["ot_mean"] * team_ot[cand_team] / 10.0 + cand["frailty"]
    h_c = ve["baseline_monthly"] * np.exp(lin0) + ie["baseline_monthly"]
    key = np.log(rng_hire.random(n_cand)) * h_c  # Efraimidis-Spirakis weighted sampling, weight 1/h
    order = np.lexsort((-key, cand_team))
    pos = np.arange(n_cand) - np.searchsorted(cand_team[order], cand_team[order])
    chosen = np.sort(order[pos < team_target0[cand_team[order]]])
    cand = {k_: v_[chosen] for k_, v_ in cand.items()}
    team0 = cand_team[chosen]
    hc = np.clip(h_c[chosen], 1e-4, 0.5)
    u0 = rng_hire.random(H0)
    tail = 1.0 - (1.0 - hc) ** max_pre
    tenure0 = np.ceil(np.log1p(-u0 * tail) / np.log1p(-hc)).astype(np.int64).clip(1, max_pre)
    hire_m0 = month0 - tenure0
    hire_d0 = hire_m0.astype("datetime64[D]") + np.floor(
        rng_hire.random(H0) * ((hire_m0 + 1).astype("datetime64[D]") - hire_m0.astype("datetime64[D]")).astype(int)
    ).astype(np.int64)
    order = np.lexsort((rng_hire.random(H0), hire_d0))
    team0, hire_d0 = team0[order], hire_d0[order]
    pidx = P.append(**{k_: v_[order] for k_, v_ in cand.items()})
    new_spells(pidx, team0, hire_d0, np.zeros(H0, dtype=bool))

    hires = np.zeros(M, dtype=np.int64)
    exits_vol = np.zeros(M, dtype=np.int64)
    exits_inv = np.zeros(M, dtype=np.int64)
    headcount_end = np.zeros(M, dtype=np.int64)
    pm_s, pm_m, pm_e, pm_ot = [], [], [], []
    h0v, h0i = ve["baseline_monthly"], ie["baseline_monthly"]
    inv_fy = ie["first_year_hazard_ratio"]
    rehire_elig = np.zeros(len(REASONS) + 1, dtype=bool)
    rehire_elig[list(REHIRE_ELIGIBLE_REASONS)] = True

    for m in range(M):
        active = S["exit_month"] == M
        # ---- hiring (from month 1; one month's lag behind the exits) ----
        if m > 0:
            count = np.bincount(S["team"][active], minlength=T)
            target = np.round(team_target0 * (1 + wf["headcount_growth_per_year"]) ** (m / 12.0)).astype(np.int64)
            deficit = np.maximum(target - count, 0)
            n_hire = rng_hire.binomial(deficit, wf["hiring_fill_rate_per_month"])
            # rehires: former employees back in their old team
            elig = np.nonzero(
                (S["exit_month"] <= m - wf["rehire_min_gap_months"])
                & rehire_elig[S["reason"]]
                & (P["nspells"][S["person"]] == 1)
            )[0]
            n_re = min(int(rng_hire.binomial(n_hire.sum(), wf["rehire_share_of_hires"])), len(elig))
            re_sp = np.empty(0, dtype=np.int64)
            if n_re > 0:
                cand = rng_hire.permutation(elig)
                ct = S["team"][cand]
                o = np.argsort(ct, kind="stable")
                cand, ct = cand[o], ct[o]
                first_pos = np.searchsorted(ct, np.arange(T))
                rank = np.arange(len(cand)) - first_pos[ct]
                keep = rank < n_hire[ct]
                cand = cand[keep]
                # first n_re in random order
                cand = cand[np.argsort(rng_hire.random(len(cand)), kind="stable")][:n_re]
                re_sp = np.sort(cand)
            re_team = S["team"][re_sp].astype(np.int64)
            n_new = np.maximum(n_hire - np.bincount(re_team, minlength=T), 0)
            new_team = np.repeat(np.arange(T), n_new)
            all_team = np.concatenate([re_team, new_team])
            k = len(all_team)
            if k:
                day = month_first[m] + np.floor(rng_hire.random(k) * dim[m]).astype(np.int64)
                hires[m] = k
                if len(re_sp):
                    P.cols["nspells"][S["person"][re_sp]] += 1
                new_p = new_people(team_site[new_team]) if len(new_team) else np.empty(0, dtype=np.int64)
                persons = np.concatenate([S["person"][re_sp], new_p])
                rehire_flag = np.concatenate([np.ones(len(re_sp), bool), np.zeros(len(new_team), bool)])
                new_spells(persons, all_team, day, rehire_flag)
            active = S["exit_month"] == M
        # ---- exits ----
        risk = np.nonzero(active & (S["hire_month"] < m))[0]
        p = S["person"][risk]
        t = S["team"][risk].astype(np.int64)
        q = m // 3
        D = _latent(P, p, t, q, team_eff, team_shock, uplift)
        kten = m - S["hire_month"][risk]
        if m == 0:
            ot_prev = np.round(S["ot_rate"][risk, 0] * 10) / 10
        else:
            ot_prev = _recorded_ot_tenths(S, risk, m - 1, month_first, dim) / 10.0
        lin = (D - 3.0) @ beta + b_ot * ot_prev / 10.0 + P["frailty"][p] + prog_log[t, m] + log_trend * m / 12.0
        lin = lin + log_tenure1 * ((kten >= 1) & (kten <= 3)) + log_tenure2 * ((kten >= 4) & (kten <= 6))
        lin = lin + log_burn * (is_compl[t] & (kten >= 6) & (kten <= 12))
        hv = h0v * np.exp(lin)
        hi = h0i * np.where(kten <= 12, inv_fy, 1.0)
        if counterfactual:
            cf_exits[:, m] = np.bincount(t, weights=_p_voluntary(hv, hi), minlength=T)
            raw = P["mu"][p] + P["ar"][p, q, :] + team_eff[t] + team_shock[t, q, :] + uplift[t, q, :]
            for j in range(len(PROGRAMME_TYPES)):
                c = cf_col[j]
                d0 = np.clip(raw[:, c] - cf_uplift[j][t, q], 1.0, 5.0)
                lin0 = lin + beta[c] * (d0 - D[:, c]) - cf_log[j][t, m]
                cf_exits_without[:, m, j] = np.bincount(t, weights=_p_voluntary(h0v * np.exp(lin0), hi), minlength=T)
        pexit = -np.expm1(-(hv + hi))
        u = rng_exit.random(len(risk))
        ex = u < pexit
        vol = u < pexit * hv / (hv + hi)
        etype = np.where(ex, np.where(vol, EXIT_VOL, EXIT_INV), EXIT_NONE).astype(np.int8)
        ei = risk[ex]
        et = etype[ex]
        ne = len(ei)
        eday = month_first[m] + np.floor(rng_exit.random(ne) * dim[m]).astype(np.int64)
        ur = rng_exit.random(ne)
        compl_e = is_compl[S["team"][ei]]
        vr = np.where(compl_e[:, None], np.array(VOL_P_COMPLAINTS), np.array(VOL_P))
        first_year = kten[ex] <= 12
        ir = np.where(first_year[:, None], np.array(INV_P_FIRST_YEAR), np.array(INV_P_LATER))
        reason = np.where(et == EXIT_VOL, _choice_rows(ur, vr), len(VOL_REASONS) + _choice_rows(ur, ir)).astype(np.int8)
        S.cols["exit_day"][ei] = eday
        S.cols["exit_month"][ei] = m
        S.cols["exit_type"][ei] = et
        S.cols["reason"][ei] = reason
        exits_vol[m] = int((et == EXIT_VOL).sum())
        exits_inv[m] = int((et == EXIT_INV).sum())
        headcount_end[m] = int(active.sum()) - ne
        pm_s.append(risk)
        pm_m.append(np.full(len(risk), m, dtype=np.int16))
        pm_e.append(etype)
        pm_ot.append(ot_prev.astype(np.float32))

    say(f"simulated {P.n} people, {S.n} spells; computing latent scores")
    # ---- latent truth per spell and wave ----
    nS = S.n
    drivers = np.empty((nS, Q, D6), dtype=np.float32)
    drivers_without = np.empty((nS, Q, len(PROGRAMME_TYPES)), dtype=np.float32) if counterfactual else None
    w_eng = np.array([E["engagement"]["weights"][d] for d in DRIVERS], dtype=np.float32)
    engagement = np.empty((nS, Q), dtype=np.float32)
    intent = np.empty((nS, Q), dtype=np.float32)
    it = E["intent_to_stay"]
    step = 200_000
    for a in range(0, nS, step):
        b = min(nS, a + step)
        p = S["person"][a:b]
        t = S["team"][a:b].astype(np.int64)
        x = P["mu"][p][:, None, :] + P["ar"][p] + team_eff[t][:, None, :] + team_shock[t] + uplift[t]
        if counterfactual:
            for j in range(len(PROGRAMME_TYPES)):
                drivers_without[a:b, :, j] = np.clip(x[:, :, cf_col[j]] - cf_uplift[j][t], 1.0, 5.0)
        x = np.clip(x, 1.0, 5.0)
        drivers[a:b] = x
        engagement[a:b] = np.clip(x @ w_eng + P["eng_off"][p][:, None], 1, 5)
        ot_m = (P["ot_mean"][p] * team_ot[t] * S["fte"][a:b])[:, None]
        eta = (x - 3.0) @ beta + b_ot * ot_m / 10.0 + P["frailty"][p][:, None]
        intent[a:b] = np.clip(it["intercept"] - it["slope"] * eta + P["intent_noise"][p], 1, 5)

    # ---- recorded monthly timesheet values ----
    ot_t = np.zeros((nS, M), dtype=np.int32)
    hrs_t = np.zeros((nS, M), dtype=np.int32)
    cs_pct = np.zeros((nS, M), dtype=np.int16)
    for m in range(M):
        emp = np.nonzero((S["hire_month"] <= m) & (S["exit_month"] >= m))[0]
        frac = _employed_fraction(S, emp, m, month_first, dim)
        o = _recorded_ot_tenths(S, emp, m, month_first, dim)
        h = S["fte"][emp] * 165.0 * frac * (1.0 + S["hours_noise"][emp, m]) + o / 10.0
        ot_t[emp, m] = o
        hrs_t[emp, m] = _round_half_up(h * 10).astype(np.int32)
        cs_pct[emp, m] = S["cs_pct"][emp, m]

    return Simulation(
        cfg=cfg,
        effects=E,
        month0=month0,
        months=months,
        quarter_labels=quarter_labels,
        wave_dates=wave_dates,
        team_names=team_names,
        team_site=team_site,
        team_function=team_function,
        team_is_complaints=is_compl,
        team_initial_target=team_target0,
        team_response_logit=team_resp,
        programmes=programmes,
        prog_month_active=prog_month,
        prog_wave_active=prog_wave,
        person_number=np.arange(1, P.n + 1, dtype=np.int64),
        person_lang=P["lang"].copy(),
        person_first=P["first"].copy(),
        person_last=P["last"].copy(),
        person_female=P["female"].copy(),
        person_frailty=P["frailty"].copy(),
        person_overtime_mean=P["ot_mean"].copy(),
        person_engagement_offset=P["eng_off"].copy(),
        person_response_offset=P["resp_off"].copy(),
        spell_person=S["person"].copy(),
        spell_team=S["team"].astype(np.int64),
        spell_role=S["role"].copy(),
        spell_schedule=S["schedule"].copy(),
        spell_band=S["band"].copy(),
        spell_salary=S["salary"].copy(),
        spell_fte=S["fte"].copy(),
        spell_rehire=S["rehire"].copy(),
        hire_date=S["hire_day"].copy(),
        exit_date=S["exit_day"].copy(),
        exit_type=S["exit_type"].copy(),
        exit_reason=S["reason"].copy(),
        hire_month=S["hire_month"].copy(),
        exit_month=S["exit_month"].copy(),
        drivers=drivers,
        engagement=engagement,
        intent=intent,
        overtime_tenths=ot_t,
        hours_tenths=hrs_t,
        complaint_pct=cs_pct,
        pm_spell=np.concatenate(pm_s),
        pm_month=np.concatenate(pm_m).astype(np.int64),
        pm_event=np.concatenate(pm_e),
        pm_overtime_prev=np.concatenate(pm_ot),
        headcount_end=headcount_end,
        hires=hires,
        exits_vol=exits_vol,
        exits_inv=exits_inv,
        names=names,
        survey_seeds=s_survey.spawn(Q),
        counterfactual=(
            ProgrammeCounterfactual(cf_exits, cf_exits_without, drivers_without) if counterfactual else None
        ),
    )


def _employed_fraction(S: _Table, idx: np.ndarray, m: int, month_first, dim) -> np.ndarray:
    ms = month_first[m]
    me = ms + np.timedelta64(int(dim[m]) - 1, "D")
    start = np.maximum(S["hire_day"][idx], ms)
    ex = S["exit_day"][idx]
    end = np.where(np.isnat(ex), me, np.minimum(ex, me))
    return ((end - start).astype(np.int64) + 1) / float(dim[m])


def _recorded_ot_tenths(S: _Table, idx: np.ndarray, m: int, month_first, dim) -> np.ndarray:
    frac = _employed_fraction(S, idx, m, month_first, dim)
    return _round_half_up(S["ot_rate"][idx, m + 1] * frac * 10).astype(np.int32)


# --------------------------------------------------------------------------------------
# Survey waves
# --------------------------------------------------------------------------------------


@dataclass
class SurveyWave:
    wave: int
    label: str
    date: np.datetime64
    invited: np.ndarray  # spell indices invited
    spell: np.ndarray  # spell index per response (sorted by spell)
    # (n, 20 + cfg.extra_items) int8, columns in survey_items(cfg) order: Q01..Q19 Likert 1..5 (raw, reverse
    # items as answered), Q20 eNPS 0..10 (column 19), then the extra Likert items Q22.. (columns 20..); -1 missing
    answers: np.ndarray
    start: np.ndarray  # datetime64[s]
    duration: np.ndarray  # seconds
    finished: np.ndarray  # bool
    progress: np.ndarray  # int percent
    response_id: np.ndarray  # str, "R_" + 15 alphanumerics
    long_id: np.ndarray  # int64 numeric response id used by the Polish long export
    ip: np.ndarray  # str
    comment: np.ndarray  # object array of str or None


_ALNUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)


def simulate_wave(sim: Simulation, w: int) -> SurveyWave:
    """Draw the responses of survey wave ``w`` (deterministic per seed and wave)."""
    rng = np.random.default_rng(sim.survey_seeds[w])
    E = sim.effects["survey"]
    date = sim.wave_dates[w]
    invited = np.nonzero(sim.employed_on(date))[0]
    t = sim.spell_team[invited]
    p = sim.spell_person[invited]
    eng = sim.engagement[invited, w]
    logit = sim.team_response_logit[t] + 0.8 * (eng - 3.3) + sim.person_response_offset[p]
    resp = rng.random(len(invited)) < 1.0 / (1.0 + np.exp(-logit))
    sp = invited[resp]
    n = len(sp)
    D = sim.drivers[sp, w, :]
    eng = sim.engagement[sp, w]
    intent = sim.intent[sp, w]
    offsets = np.array([E["item_offsets"].get(i, 0.0) for i in ITEM_IDS[:19]])
    lat = np.empty((n, 19))
    for j, it in enumerate(SURVEY_ITEMS[:19]):
        drv = it[1]
        if drv in DRIVERS:
            lat[:, j] = D[:, DRIVERS.index(drv)]
        elif drv == "engagement":
            lat[:, j] = eng
        else:
            lat[:, j] = intent
    noise = rng.normal(0, E["item_noise_sd"], (n, 19))
    lik = np.clip(_round_half_up(lat + offsets + noise), 1, 5)
    rev = np.array([it[2] for it in SURVEY_ITEMS[:19]])
    lik[:, rev] = 6 - lik[:, rev]
    enps = np.clip(_round_half_up(2.6 * eng - 2.0 + rng.normal(0, 1.3, n)), 0, 10)
    ans = np.concatenate([lik, enps[:, None]], axis=1).astype(np.int8)
    ans[rng.random((n, 20)) < E["item_nonresponse"]] = -1
    partial = rng.random(n) < E["partial_response_rate"]
    cut = rng.integers(5, 19, n)  # items answered before dropping out
    ans[partial[:, None] & (np.arange(20)[None, :] >= cut[:, None])] = -1
    progress = np.where(partial, np.floor(100 * cut / 21).astype(np.int64), 100)
    # timestamps: a few days after the wave date, never after the exit date
    off = np.minimum(rng.geometric(0.45, n) - 1, 6)
    ex = sim.exit_date[sp]
    room = np.where(np.isnat(ex), 6, (ex - date).astype(np.int64))
    off = np.minimum(off, room)
    tod = 8 * 3600 + np.floor(rng.random(n) * 11 * 3600).astype(np.int64)
    start = date.astype("datetime64[s]") + (off * 86400 + tod).astype("timedelta64[s]")
    dur = np.floor(np.exp(rng.normal(math.log(260), 0.45, n))).astype(np.int64) + 30
    dur = np.where(partial, np.maximum(dur * cut // 20, 20), dur)
    rid = _ALNUM[rng.integers(0, 62, (n, 15))]
    rid = np.char.add("R_", rid.view("S15").ravel().astype("U15"))
    if len(np.unique(rid)) != n:  # astronomically unlikely; keep ids unique deterministically
        rid = np.char.add(rid, np.char.zfill(np.arange(n).astype("U"), 7))
    perm = rng.permutation(n)
    long_id = 1_000_000_000 + (w + 1) * 10_000_000 + perm + 1
    nets = np.array(["192.0.2", "198.51.100", "203.0.113"])
    ip = np.char.add(np.char.add(nets[rng.integers(0, 3, n)], "."), rng.integers(1, 255, n).astype("U3"))
    lang = sim.person_lang[sim.spell_person[sp]]
    has_c = rng.random(n) < E["comment_rate_wide"]
    cu = rng.random(n)
    comment = np.full(n, None, dtype=object)
    for li, lname in enumerate(LANGS):
        pool = COMMENTS.get(lname, COMMENTS["en"])
        sel = has_c & (lang == li)
        if sel.any():
            comment[sel] = np.array(pool, dtype=object)[np.floor(cu[sel] * len(pool)).astype(np.int64)]
    K = sim.cfg.extra_items
    if K:  # drawn after every other draw of the wave, so the 20-item survey is unchanged
        extra = extra_survey_items(K)
        col = np.array([DRIVERS.index(it[1]) for it in extra])
        x_off = np.array([E["item_offsets"].get(it[0], 0.0) for it in extra])
        x_noise = rng.normal(0, E["item_noise_sd"], (n, K))
        x = np.clip(_round_half_up(D[:, col] + x_off + x_noise), 1, 5).astype(np.int8)
        x[rng.random((n, K)) < E["item_nonresponse"]] = -1
        x[partial] = -1  # the extra items come after Q20: a partial response never reaches them
        ans = np.concatenate([ans, x], axis=1)
    return SurveyWave(
        wave=w,
        label=sim.quarter_labels[w],
        date=date,
        invited=invited,
        spell=sp,
        answers=ans,
        start=start,
        duration=dur,
        finished=~partial,
        progress=progress,
        response_id=rid,
        long_id=long_id,
        ip=ip,
        comment=comment,
    )


def _expected_item_score(latent: np.ndarray, sd: float) -> np.ndarray:
    """E[clip(round_half_up(latent + N(0, sd)), 1, 5)] = 1 + sum_k Phi((latent - k - 0.5) / sd), k = 1..4."""
    from scipy.special import ndtr

    return 1.0 + sum(ndtr((latent - k - 0.5) / sd) for k in range(1, 5))


def programme_truth(sim: Simulation) -> dict[str, pl.DataFrame]:
    """The true effect of each programme type on the two outcomes the programme evaluation uses.

    Needs ``simulate(cfg, counterfactual=True)``. Returns two team x quarter frames (every team,
    every quarter, every programme type; cells without the programme have equal columns):

    - ``turnover``: team, quarter, intervention, expected_voluntary_exits (with the hazards the
      simulation used) and expected_voluntary_exits_without (type switched off), each the sum of
      P(voluntary exit) over the team's at-risk person-months in the quarter;
    - ``driver_score``: team, quarter, intervention, driver, respondents, expected_score and
      expected_score_without: the mean over the wave's respondents of the expected mean score
      on the items of the programme's driver they answered (including the driver's extra items
      Q22.. with ``cfg.extra_items``; canonical score, i.e. after reverse
      scoring), where an item's expected score is E[clip(round(latent + offset + noise), 1, 5)]
      with the latent score with and without the type's uplift. Rounding and clipping to 1-5
      make this smaller than the latent uplift.

    Dividing an exits difference by the team-quarter's average headcount and multiplying by 4
    gives the effect on annualised voluntary turnover; averaging cells over treated teams and
    quarters the way an estimator does gives the true ATT it targets.
    """
    cf = sim.counterfactual
    if cf is None:
        raise ValueError("programme_truth needs simulate(cfg, counterfactual=True)")
    T, M = cf.expected_voluntary_exits.shape
    Q = M // 3
    quarter_starts = np.arange(0, M, 3)
    with_q = np.add.reduceat(cf.expected_voluntary_exits, quarter_starts, axis=1)
    turnover = []
    for j, pt in enumerate(PROGRAMME_TYPES):
        without_q = np.add.reduceat(cf.expected_voluntary_exits_without[:, :, j], quarter_starts, axis=1)
        turnover.append(
            pl.DataFrame(
                {
                    "team": np.repeat(np.array(sim.team_names), Q),
                    "quarter": np.tile(np.array(sim.quarter_labels), T),
                    "intervention": pt,
                    "expected_voluntary_exits": with_q.ravel(),
                    "expected_voluntary_exits_without": without_q.ravel(),
                }
            )
        )
    sd = sim.effects["survey"]["item_noise_sd"]
    offsets = sim.effects["survey"]["item_offsets"]
    items = survey_items(sim.cfg)  # the columns of SurveyWave.answers
    scores = []
    for w in range(len(sim.quarter_labels)):
        sw = simulate_wave(sim, w)
        team = sim.spell_team[sw.spell]
        for j, pt in enumerate(PROGRAMME_TYPES):
            driver = sim.effects["programmes"][pt]["driver"]
            cols = [k for k, it in enumerate(items) if it[1] == driver]
            answered = sw.answers[:, cols] >= 0
            n = answered.sum(axis=1)
            keep = n > 0
            off = np.array([offsets.get(items[k][0], 0.0) for k in cols])
            lat1 = sim.drivers[sw.spell, w, DRIVERS.index(driver)][:, None] + off
            lat0 = cf.drivers_without[sw.spell, w, j][:, None] + off
            e1 = (_expected_item_score(lat1, sd) * answered).sum(axis=1)[keep] / n[keep]
            e0 = (_expected_item_score(lat0, sd) * answered).sum(axis=1)[keep] / n[keep]
            frame = pl.DataFrame({"team_index": team[keep], "e1": e1, "e0": e0})
            grid = pl.DataFrame({"team_index": np.arange(T, dtype=team.dtype)})
            cell = (
                grid.join(
                    frame.group_by("team_index").agg(
                        pl.len().alias("respondents"),
                        pl.col("e1").mean().alias("expected_score"),
                        pl.col("e0").mean().alias("expected_score_without"),
                    ),
                    on="team_index",
                    how="left",
                )
                .sort("team_index")
                .with_columns(
                    pl.Series("team", sim.team_names),
                    pl.lit(sim.quarter_labels[w]).alias("quarter"),
                    pl.lit(pt).alias("intervention"),
                    pl.lit(driver).alias("driver"),
                    pl.col("respondents").fill_null(0).cast(pl.Int64),
                )
            )
            scores.append(cell.drop("team_index"))
        del sw
    columns = ["team", "quarter", "intervention", "driver", "respondents", "expected_score", "expected_score_without"]
    return {
        "turnover": pl.concat(turnover).sort("intervention", "team", "quarter"),
        "driver_score": pl.concat(scores).select(columns).sort("intervention", "team", "quarter"),
    }


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _roster_frame(sim: Simulation) -> pl.DataFrame:
    nm = sim.names
    p = sim.spell_person
    female = sim.person_female[p]
    first_i = sim.person_first[p]
    last_i = sim.person_last[p]
    first = pl.Series(nm["first"]).gather(first_i)
    last = pl.select(
        pl.when(pl.Series(female))
        .then(pl.lit(pl.Series(nm["last_f"])).gather(pl.Series(last_i)))
        .otherwise(pl.lit(pl.Series(nm["last_m"])).gather(pl.Series(last_i)))
    ).to_series()
    # e-mail: unique per person (suffix number on name collisions, numbered in Employee ID order)
    pf = sim.person_female
    pe = pl.DataFrame(
        {
            "n": sim.person_number,
            "f": pl.Series(nm["first_email"]).gather(sim.person_first),
            "lm": pl.Series(nm["lm_email"]).gather(sim.person_last),
            "lf": pl.Series(nm["lf_email"]).gather(sim.person_last),
            "fem": pf,
        }
    ).with_columns(base=pl.concat_str([pl.col.f, pl.lit("."), pl.when(pl.col.fem).then(pl.col.lf).otherwise(pl.col.lm)]))
    pe = pe.sort("n").with_columns(k=pl.col.base.cum_count().over("base"))
    pe = pe.with_columns(
        email=pl.concat_str(
            [pl.col.base, pl.when(pl.col.k > 1).then(pl.col.k.cast(pl.String)).otherwise(pl.lit("")), pl.lit("@" + EMAIL_DOMAIN)]
        )
    )
    email = pe["email"].gather(p)  # person_number == index + 1, sorted
    exit_d = sim.exit_date
    df = pl.DataFrame(
        {
            "Employee ID": sim.employee_ids(),
            "First Name": first,
            "Last Name": last,
            "Work Email": email,
            "Hire Date": pl.Series(sim.hire_date).cast(pl.Date),
            "Termination Date": pl.Series(exit_d).cast(pl.Date),
            "Termination Type": pl.Series([None, *EXIT_TYPE_LABELS[1:]], dtype=pl.String).gather(
                sim.exit_type.astype(np.int64)
            ),
            "Termination Reason": pl.Series([*REASONS, None], dtype=pl.String).gather(
                np.where(sim.exit_reason < 0, len(REASONS), sim.exit_reason).astype(np.int64)
            ),
            "Team": pl.Series(sim.team_names).gather(sim.spell_team),
            "Site": pl.Series([s[1] for s in SITES]).gather(sim.team_site[sim.spell_team].astype(np.int64)),
            "Job Title": pl.Series(list(ROLES)).gather(sim.spell_role.astype(np.int64)),
            "Language": pl.Series(list(LANGS)).gather(sim.person_lang[p].astype(np.int64)),
            "Work Schedule": pl.Series(list(SCHEDULES)).gather(sim.spell_schedule.astype(np.int64)),
            "Pay Band": pl.Series(list(BANDS)).gather(sim.spell_band.astype(np.int64)),
            "Annual Salary": sim.spell_salary,
        }
    )
    return df.sort(["Employee ID", "Hire Date"])


def _write_roster(sim: Simulation, out: Path) -> int:
    df = _roster_frame(sim)
    _write_bytes(out / "hris_roster.csv", df.write_csv(null_value="").encode("utf-8"))
    return df.height


def _write_timesheets(sim: Simulation, out: Path) -> int:
    path = out / "timesheets.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open(path, "wb") as fh:
        fh.write(b"Employee ID,Month,Hours Worked,Overtime Hours,Complaint Share\n")
        for m in range(len(sim.months)):
            emp = np.nonzero((sim.hire_month <= m) & (sim.exit_month >= m))[0]
            emp = emp[np.argsort(sim.person_number[sim.spell_person[emp]], kind="stable")]
            df = pl.DataFrame(
                {
                    "Employee ID": sim.employee_ids(emp),
                    "Month": pl.Series([str(sim.months[m])] * 1).gather(np.zeros(len(emp), dtype=np.int64)),
                    "h": sim.hours_tenths[emp, m],
                    "o": sim.overtime_tenths[emp, m],
                    "c": sim.complaint_pct[emp, m],
                }
            ).select(
                "Employee ID",
                "Month",
                _fixed("h", 1).alias("Hours Worked"),
                _fixed("o", 1).alias("Overtime Hours"),
                _fixed("c", 2).alias("Complaint Share"),
            )
            df.write_csv(fh, include_header=False)
            rows += df.height
    return rows


def _write_items(out: Path, extra_items: int = 0) -> int:
    items = SURVEY_ITEMS + extra_survey_items(extra_items)
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(["item_id", "driver", "reverse_scored", "scale", "text_en", "text_fr", "text_nl", "text_ru", "text_pl"])
    for it in items:
        wr.writerow([it[0], it[1], "true" if it[2] else "false", it[3], *it[4:]])
    _write_bytes(out / "survey_items.csv", buf.getvalue().encode("utf-8"))
    return len(items)


WIDE_META = (
    ("StartDate", "Start Date", '{"ImportId":"startDate","timeZone":"%s"}' % TIMEZONE),
    ("EndDate", "End Date", '{"ImportId":"endDate","timeZone":"%s"}' % TIMEZONE),
    ("Status", "Response Type", '{"ImportId":"status"}'),
    ("IPAddress", "IP Address", '{"ImportId":"ipAddress"}'),
    ("Progress", "Progress", '{"ImportId":"progress"}'),
    ("Duration (in seconds)", "Duration (in seconds)", '{"ImportId":"duration"}'),
    ("Finished", "Finished", '{"ImportId":"finished"}'),
    ("RecordedDate", "Recorded Date", '{"ImportId":"recordedDate","timeZone":"%s"}' % TIMEZONE),
    ("ResponseId", "Response ID", '{"ImportId":"_recordId"}'),
    ("ExternalReference", "External Data Reference", '{"ImportId":"externalDataReference"}'),
    ("UserLanguage", "User Language", '{"ImportId":"userLanguage"}'),
    ("Team", "Team", '{"ImportId":"Team"}'),
)
WIDE_COLUMNS = [c[0] for c in WIDE_META] + list(ITEM_IDS) + ["Q21_TEXT"]  # without extra items
LONG_COLUMNS = ["ID odpowiedzi", "Nr pracownika", "Zespół", "Data wypełnienia", "Pytanie", "Odpowiedź"]


def _wide_columns(items: tuple) -> list[str]:
    """Wide export columns: metadata, the items (Q01..Q20, then any extra items Q22.. before the
    closing comment, as in the survey flow), Q21_TEXT."""
    return [c[0] for c in WIDE_META] + [it[0] for it in items] + ["Q21_TEXT"]


def _answer_text(codes: np.ndarray, j: int, labels: tuple[str, ...]) -> pl.Series:
    if j == 19:
        lab = [None] + [str(i) for i in range(11)]
        return pl.Series(lab, dtype=pl.String).gather(codes.astype(np.int64) + 1)
    lab = [None, None] + list(labels)
    return pl.Series(lab, dtype=pl.String).gather(codes.astype(np.int64) + 1)


def _wide_frame(sim: Simulation, sw: SurveyWave, sel: np.ndarray) -> pl.DataFrame:
    sp = sw.spell[sel]
    start = sw.start[sel]
    end = start + sw.duration[sel].astype("timedelta64[s]")
    fmt = "%Y-%m-%d %H:%M:%S"
    cols: dict[str, pl.Series] = {
        "StartDate": pl.Series(start.astype("datetime64[ms]")).dt.strftime(fmt),
        "EndDate": pl.Series(end.astype("datetime64[ms]")).dt.strftime(fmt),
        "Status": pl.Series(["IP Address"]).gather(np.zeros(len(sp), dtype=np.int64)),
        "IPAddress": pl.Series(sw.ip[sel].astype(str)),
        "Progress": pl.Series(sw.progress[sel]).cast(pl.String),
        "Duration (in seconds)": pl.Series(sw.duration[sel]).cast(pl.String),
        "Finished": pl.Series(["False", "True"]).gather(sw.finished[sel].astype(np.int64)),
        "RecordedDate": pl.Series(end.astype("datetime64[ms]")).dt.strftime(fmt),
        "ResponseId": pl.Series(sw.response_id[sel].astype(str)),
        "ExternalReference": sim.employee_ids(sp),
        "UserLanguage": pl.Series([lang.upper() for lang in LANGS]).gather(
            sim.person_lang[sim.spell_person[sp]].astype(np.int64)
        ),
        "Team": pl.Series(sim.team_names).gather(sim.spell_team[sp]),
    }
    for j, it in enumerate(survey_items(sim.cfg)):
        cols[it[0]] = _answer_text(sw.answers[sel, j], j, LIKERT_EN)
    cols["Q21_TEXT"] = pl.Series(sw.comment[sel].tolist(), dtype=pl.String)
    return pl.DataFrame({k: v.alias(k) for k, v in cols.items()}).sort("ResponseId")


def _long_frame(sim: Simulation, sw: SurveyWave, sel: np.ndarray) -> pl.DataFrame:
    sp = sw.spell[sel]
    ans = sw.answers[sel]
    r, j = np.nonzero(ans >= 0)  # row-major: sorted by response row then item
    end = sw.start[sel] + sw.duration[sel].astype("timedelta64[s]")
    base = pl.DataFrame(
        {
            "ID odpowiedzi": pl.Series(sw.long_id[sel]).cast(pl.String),
            "Nr pracownika": sim.employee_ids(sp),
            "Zespół": pl.Series(sim.team_names).gather(sim.spell_team[sp]),
            "Data wypełnienia": pl.Series(end.astype("datetime64[D]")).dt.strftime("%d.%m.%Y"),
        }
    )
    vals = ans[r, j].astype(np.int64)
    lab = pl.Series([str(i) for i in range(11)] + list(LIKERT_PL))
    code = np.where(j == 19, vals, 11 + vals - 1)  # column 19 is eNPS (Q20), every other column Likert
    df = base[r].with_columns(
        pl.Series("Pytanie", [it[0] for it in survey_items(sim.cfg)]).gather(j),
        lab.gather(code).alias("Odpowiedź"),
    )
    return df.sort(["ID odpowiedzi", "Pytanie"])


def _write_wide_csv(df: pl.DataFrame, path: Path, extra_items: int = 0) -> None:
    items = SURVEY_ITEMS + extra_survey_items(extra_items)
    columns = _wide_columns(items)
    if df.columns != columns:
        raise ValueError(f"wide survey frame columns {df.columns} do not match the survey's {columns}")
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(columns)
    wr.writerow([c[1] for c in WIDE_META] + [it[4] for it in items] + [Q21_TEXT_EN])
    # Qn's ImportId is QIDn: QID1..QID20, QID21_TEXT for the comment, QID22.. for the extra items
    import_ids = [f'{{"ImportId":"QID{int(it[0][1:])}"}}' for it in items]
    wr.writerow([c[2] for c in WIDE_META] + import_ids + ['{"ImportId":"QID21_TEXT"}'])
    body = io.BytesIO()
    df.write_csv(body, include_header=False, null_value="")
    _write_bytes(path, buf.getvalue().encode("utf-8") + body.getvalue())


def _utf8_to_cp1250(data: bytes, known: set[str]) -> bytes:
    """Transcode UTF-8 to cp1250 when every non-ASCII character is one of ``known``.

    Byte-level replacement of whole UTF-8 sequences (self-synchronising, so no false matches) is
    much faster than decoding and re-encoding hundreds of megabytes at 1M employees.
    """
    for ch in sorted(c for c in known if ord(c) > 127):
        data = data.replace(ch.encode("utf-8"), ch.encode("cp1250"))
    return data


def _write_long_csv(df: pl.DataFrame, path: Path) -> None:
    buf = io.BytesIO()
    df.write_csv(buf, separator=";", line_terminator="\r\n", null_value="")
    data = buf.getvalue()
    known = set("".join(LIKERT_PL) + "".join(LONG_COLUMNS))
    if all(c in known or ord(c) < 128 for c in "".join(df["Zespół"].unique().to_list())):
        data = _utf8_to_cp1250(data, known)
    else:  # unexpected non-ASCII content: take the slow, general path
        data = data.decode("utf-8").encode("cp1250")
    _write_bytes(path, data)


def _write_interventions(sim: Simulation, out: Path) -> int:
    import xlsxwriter

    rows = sorted(
        sim.programmes,
        key=lambda r: (r["start"], sim.team_names[r["team"]], PROGRAMME_TYPE_LABELS[r["type"]]),
    )
    path = out / "interventions.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"created": XLSX_CREATED, "title": "Programme rollout", "author": "Retain synthetic generator"})
    ws = wb.add_worksheet("Programmes")
    bold = wb.add_format({"bold": True})
    datef = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, ["Team", "Programme type", "Programme", "Start date", "End date"], bold)
    for i, r in enumerate(rows, start=1):
        ws.write_string(i, 0, sim.team_names[r["team"]])
        ws.write_string(i, 1, PROGRAMME_TYPE_LABELS[r["type"]])
        ws.write_string(i, 2, r["name"])
        ws.write_datetime(i, 3, r["start"].astype(dt.datetime), datef)
        if r["end"] is not None:
            ws.write_datetime(i, 4, r["end"].astype(dt.datetime), datef)
    ws.set_column(0, 0, 16)
    ws.set_column(1, 1, 15)
    ws.set_column(2, 2, 38)
    ws.set_column(3, 4, 12)
    wb.close()
    return len(rows)


# --------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------


def _r(x: float, k: int = 4) -> float:
    return float(round(float(x), k))


def realised_facts(sim: Simulation) -> dict:
    """Facts computed from the simulated data (deterministic)."""
    M = len(sim.months)
    out: dict = {}
    out["people"] = int(sim.n_people)
    out["spells"] = int(sim.n_spells)
    out["people_with_two_spells"] = int(sim.spell_rehire.sum())
    start_hc = int((sim.hire_month < 0).sum())
    out["headcount_window_start"] = start_hc
    out["headcount_window_end"] = int(sim.headcount_end[-1])
    out["hires_in_window"] = int(sim.hires.sum())
    out["exits"] = {"voluntary": int(sim.exits_vol.sum()), "involuntary": int(sim.exits_inv.sum())}
    years = []
    for a in range(0, M, 12):
        b = min(M, a + 12)
        hc_prev = np.concatenate([[start_hc], sim.headcount_end])[a:b]
        avg = float(np.mean((hc_prev + sim.headcount_end[a:b]) / 2.0))
        f = 12.0 / (b - a)
        years.append(
            {
                "period": f"{sim.months[a]}..{sim.months[b - 1]}",
                "months": b - a,
                "average_headcount": _r(avg, 1),
                "voluntary_exits": int(sim.exits_vol[a:b].sum()),
                "involuntary_exits": int(sim.exits_inv[a:b].sum()),
                "annualised_voluntary_turnover": _r(sim.exits_vol[a:b].sum() / avg * f),
                "annualised_involuntary_turnover": _r(sim.exits_inv[a:b].sum() / avg * f),
            }
        )
    out["turnover_by_window_year"] = years
    tot_avg = float(np.mean((np.concatenate([[start_hc], sim.headcount_end[:-1]]) + sim.headcount_end) / 2.0))
    out["annualised_voluntary_turnover_whole_window"] = _r(sim.exits_vol.sum() / tot_avg * 12 / M)
    out["annualised_involuntary_turnover_whole_window"] = _r(sim.exits_inv.sum() / tot_avg * 12 / M)
    # early-tenure exits among hires in the window
    hired = sim.hire_month >= 0
    ten_days = (sim.exit_date - sim.hire_date).astype("timedelta64[D]").astype(np.float64)
    ten_days[np.isnat(sim.exit_date)] = np.inf
    out["hires_in_window_exited_within_90_days"] = int((hired & (ten_days <= 90)).sum())
    out["hires_in_window_exited_within_180_days"] = int((hired & (ten_days <= 182)).sum())
    # voluntary hazard by tercile of the person-month latent mission score
    mis = sim.drivers[sim.pm_spell, sim.pm_month // 3, 0]
    cuts = np.quantile(mis, [1 / 3, 2 / 3])
    terc = np.searchsorted(cuts, mis, side="right")
    rates = {}
    for k, lab in enumerate(("low", "middle", "high")):
        sel = terc == k
        rates[lab] = _r(12 * (sim.pm_event[sel] == EXIT_VOL).sum() / max(1, sel.sum()))
    out["annualised_voluntary_hazard_by_latent_mission_tercile"] = rates
    out["at_risk_person_months"] = int(len(sim.pm_event))
    return out


def _ground_truth(sim: Simulation, realised: dict, survey_stats: list[dict], files: dict) -> dict:
    cfg = sim.cfg
    eff = json.loads(json.dumps(sim.effects))
    for pt in PROGRAMME_TYPES:
        pe = eff["programmes"][pt]
        hr = eff["voluntary_hazard"]["hazard_ratio_per_point"][pe["driver"]]
        pe["total_hazard_ratio_incl_driver_path"] = _r(pe["hazard_multiplier"] * hr ** pe["driver_uplift"])
    rollout = {}
    for pt in PROGRAMME_TYPES:
        rollout[pt] = {}
        for t, name in enumerate(sim.team_names):
            starts = [r["start"] for r in sim.programmes if r["team"] == t and r["type"] == pt]
            if starts:
                s0 = min(starts)
                q = int((s0.astype("datetime64[M]") - sim.month0).astype(int)) // 3
                rollout[pt][name] = {"first_quarter": sim.quarter_labels[q], "start_date": str(s0)}
            else:
                rollout[pt][name] = None
    rows = [
        {
            "team": sim.team_names[r["team"]],
            "programme_type": PROGRAMME_TYPE_LABELS[r["type"]],
            "intervention": r["type"],
            "programme": r["name"],
            "start_date": str(r["start"]),
            "end_date": None if r["end"] is None else str(r["end"]),
        }
        for r in sorted(sim.programmes, key=lambda r: (r["start"], sim.team_names[r["team"]], r["type"]))
    ]
    teams = [
        {
            "team": n,
            "site": SITES[int(sim.team_site[i])][1],
            "function": FUNCTIONS[int(sim.team_function[i])],
            "initial_target_headcount": int(sim.team_initial_target[i]),
            "response_rate_logit": _r(sim.team_response_logit[i]),
        }
        for i, n in enumerate(sim.team_names)
    ]
    invited = sum(s["invited"] for s in survey_stats)
    responded = sum(s["responses"] for s in survey_stats)
    realised = dict(realised)
    realised["survey"] = {
        "invited": invited,
        "responses": responded,
        "response_rate": _r(responded / max(1, invited)),
        "answers": sum(s["answers"] for s in survey_stats),
        "by_wave": survey_stats,
    }
    return {
        "generator": {"module": "analysis.synth", "version": GENERATOR_VERSION},
        "seed": cfg.seed,
        "config": cfg.as_dict(),
        "window": {
            "first_month": str(sim.months[0]),
            "last_month": str(sim.months[-1]),
            "quarters": sim.quarter_labels,
            "waves": [{"wave": lab, "date": str(d)} for lab, d in zip(sim.quarter_labels, sim.wave_dates)],
        },
        "organisation": {
            "teams": teams,
            "languages_by_site": {
                SITES[s][1]: {LANGS[li]: pr for li, pr in opts} for s, opts in SITE_LANGS.items()
            },
        },
        "true_effects": eff,
        "rollout": rollout,
        "interventions": rows,
        "realised": realised,
        "files": files,
    }


def _fmt_hr(x: float) -> str:
    return f"{x:.2f}"


def _ground_truth_md(gt: dict) -> str:
    e = gt["true_effects"]
    v = e["voluntary_hazard"]
    r = gt["realised"]
    L = []
    a = L.append
    a("# Ground truth of the synthetic demo organisation")
    a("")
    a(f"Generated by `analysis/synth.py` (generator version {gt['generator']['version']}) with seed "
      f"`{gt['seed']}` and config `{json.dumps(gt['config'], sort_keys=True)}`. Every number below is also in "
      "`ground_truth.json` (section `true_effects` = the parameters used, `realised` = facts counted in the "
      "generated data). The data are entirely synthetic: names, e-mails, IP addresses and comments are invented.")
    a("")
    a(f"Window: {gt['window']['first_month']} to {gt['window']['last_month']} "
      f"({len(gt['window']['quarters'])} quarters); one pulse survey per quarter, fielded on the 15th of the "
      "quarter's second month (" + ", ".join(f"{w['wave']} = {w['date']}" for w in gt['window']['waves']) + ").")
    a("")
    a("## Voluntary exit hazard (the truth an analysis should recover)")
    a("")
    a("Monthly discrete-time hazard, evaluated for every employee in every month after the hire month:")
    a("")
    a(f"    {v['form']}")
    a("")
    a(f"- baseline monthly hazard: **{v['baseline_monthly']}** ({v['reference']})")
    a("- hazard ratio per +1 point of the latent driver score (1-5 scale):")
    for d, hr in v["hazard_ratio_per_point"].items():
        a(f"  - {d}: **{_fmt_hr(hr)}**")
    a(f"- overtime: **{_fmt_hr(v['hazard_ratio_overtime_per_10h'])}** per 10 hours ({v['overtime_exposure']})")
    tm = v["tenure_multipliers"]
    a(f"- early tenure: x{tm['first_90_days']['hazard_ratio']} in tenure months 1-3 (first 90 days), "
      f"x{tm['months_4_to_6']['hazard_ratio']} in months 4-6 ({v['tenure_definition']})")
    cb = v["complaints_burnout"]
    a(f"- complaints burnout: x{cb['hazard_ratio']} in tenure months {cb['tenure_months'][0]}-{cb['tenure_months'][1]} "
      f"for {cb['applies_to']}")
    a(f"- unobserved frailty: log-hazard N(0, {v['frailty_sd']}) per person (reflected in intent to stay)")
    i = e["involuntary_hazard"]
    a(f"- involuntary exits: separate monthly hazard {i['baseline_monthly']} (x{i['first_year_hazard_ratio']} in the "
      f"first 12 months), {i['note']}")
    a(f"- {e['monthly_exit_probability']}")
    a("")
    a("## Programmes")
    a("")
    a("| intervention | direct hazard multiplier | driver uplift | total hazard ratio incl. driver path |")
    a("|---|---|---|---|")
    for pt, pe in e["programmes"].items():
        if pt == "timing":
            continue
        a(f"| {pt} | {pe['hazard_multiplier']} | +{pe['driver_uplift']} on {pe['driver']} | "
          f"{pe['total_hazard_ratio_incl_driver_path']} |")
    a("")
    a(f"Timing: {e['programmes']['timing']}. Programme names differ (see interventions.xlsx) but every programme of a "
      "type has the same true effect.")
    a("")
    a("Rollout (first start quarter per team; `never` = never-treated control):")
    a("")
    a("| team | " + " | ".join(PROGRAMME_TYPES) + " |")
    a("|---|" + "---|" * len(PROGRAMME_TYPES))
    teams = [t["team"] for t in gt["organisation"]["teams"]]
    for t in teams:
        cells = []
        for pt in PROGRAMME_TYPES:
            x = gt["rollout"][pt][t]
            cells.append("never" if x is None else f"{x['first_quarter']} ({x['start_date']})")
        a(f"| {t} | " + " | ".join(cells) + " |")
    a("")
    a("## Survey measurement")
    a("")
    s = e["survey"]
    a(f"- Invitation: {s['invited']}. Target response rate {s['response_rate_target']} "
      f"({s['response_model']}); realised {r['survey']['response_rate']} over {r['survey']['invited']} invitations.")
    a(f"- Likert items: {s['likert_answer']}; item noise sd {s['item_noise_sd']}; item offsets in ground_truth.json.")
    a(f"- eNPS (Q20): {s['enps_answer']}.")
    if "extra_items" in s:
        x = s["extra_items"]
        by_driver = {d: [i for i, dd in x["drivers"].items() if dd == d] for d in DRIVERS}
        a(f"- Extra items ({x['count']}): {x['note']} ("
          + "; ".join(f"{d} {', '.join(ids)}" for d, ids in by_driver.items() if ids)
          + "). A driver's score (the mean of its items) includes them, so it is a little more reliable than with "
          "its 2-3 standard items alone.")
    a(f"- Item non-response {s['item_nonresponse']}; partial responses {s['partial_response_rate']} (Finished=False, "
      f"later items missing); free-text comments in {s['comment_rate_wide']} of wide-export responses (ingest drops them).")
    a(f"- Latent drivers: {e['latent_drivers']['formula']}. Engagement: {e['engagement']['formula']}. "
      f"Intent to stay: {e['intent_to_stay']['formula']} (intercept {e['intent_to_stay']['intercept']}, "
      f"slope {e['intent_to_stay']['slope']}).")
    a("")
    a("## Realised facts (counted in the generated files)")
    a("")
    a(f"- people {r['people']}, employment spells {r['spells']} ({r['people_with_two_spells']} rehires), "
      f"headcount {r['headcount_window_start']} at window start and {r['headcount_window_end']} at window end, "
      f"{r['hires_in_window']} hires in the window")
    a(f"- exits: {r['exits']['voluntary']} voluntary, {r['exits']['involuntary']} involuntary; annualised voluntary "
      f"turnover over the window {r['annualised_voluntary_turnover_whole_window']}, involuntary "
      f"{r['annualised_involuntary_turnover_whole_window']}")
    for y in r["turnover_by_window_year"]:
        a(f"  - {y['period']}: voluntary {y['annualised_voluntary_turnover']}, involuntary "
          f"{y['annualised_involuntary_turnover']} (average headcount {y['average_headcount']})")
    a(f"- hires in the window who left within 90 days: {r['hires_in_window_exited_within_90_days']}; within 180 days: "
      f"{r['hires_in_window_exited_within_180_days']}")
    mt = r["annualised_voluntary_hazard_by_latent_mission_tercile"]
    a(f"- annualised voluntary hazard by tercile of the latent mission score: low {mt['low']}, middle {mt['middle']}, "
      f"high {mt['high']}")
    a("")
    a("## How to check an analysis against this")
    a("")
    a("- **Turnover**: the turnover analysis on the demo exports must reproduce the realised counts above exactly "
      "(exits by type, headcount at window end, hires); annualised rates may differ slightly with the denominator "
      "convention (here: exits / mean of start- and end-of-month headcount, annualised).")
    a(f"- **Cox / discrete-time model of voluntary exit** on survey driver scores (mean of the driver's items, "
      f"reverse item Q09 re-scored as 6 - answer): with all six drivers in the model the hazard ratio per point "
      f"should be near the true values (mission ≈ {v['hazard_ratio_per_point']['mission']}, worklife ≈ "
      f"{v['hazard_ratio_per_point']['worklife']}, manager ≈ {v['hazard_ratio_per_point']['manager']}, recognition ≈ "
      f"{v['hazard_ratio_per_point']['recognition']}), attenuated towards 1 by item noise and rounding "
      "(reliability of a 2-3 item scale ≈ 0.7-0.8) and by non-responders' missing scores. A model with one driver only "
      "shows a stronger hazard ratio than its true conditional value, because drivers are correlated "
      f"(common factor sd {e['latent_drivers']['common_factor_sd']}). Intervals on ~800 people are wide: expect "
      "roughly ±0.1 around the mission HR.")
    a("- **Intent to stay (Q19)** and **eNPS** should predict exits; intent is built from the same linear predictor "
      "plus the unobserved frailty, so it should predict exit even after adjusting for the drivers.")
    a("- **Early tenure / burnout**: exits concentrate in tenure months 1-6, and in months 6-12 for Complaints teams.")
    a("- **Overtime**: HR per 10 h of the previous month's overtime ≈ "
      f"{v['hazard_ratio_overtime_per_10h']}.")
    a("- **Programmes (staggered DiD / event study on team-month voluntary exit rates)**: the average effect on the "
      "voluntary hazard is the *total* hazard ratio in the table (direct multiplier × driver path), e.g. mission ≈ "
      f"{e['programmes']['mission']['total_hazard_ratio_incl_driver_path']}; on the matching driver's survey score "
      f"the effect is ≈ +{e['programmes']['mission']['driver_uplift']} points (slightly less after clipping to 1-5). Pre-trends are flat by construction "
      "(no anticipation). With 12 teams the team-level intervals are wide; the never-treated and not-yet-treated "
      "teams are the controls.")
    a("- **Engagement results**: % favourable and means per driver follow the latent person means in "
      "`true_effects.latent_drivers.person_mean` plus the item offsets, lifted in treated teams after rollout.")
    a("")
    return "\n".join(L)


# --------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------


def generate(cfg: SynthConfig, out_dir: Path, progress: Callable[[str], None] | None = None) -> dict:
    """Simulate and write all demo exports into ``out_dir``; returns a summary (files and rows)."""
    say = progress or (lambda _m: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    surveys = out / "surveys"
    surveys.mkdir(parents=True, exist_ok=True)
    for old in sorted(surveys.glob("pulse_*")):  # stale waves of an earlier run / other format
        if old.is_file():
            old.unlink()
    sim = simulate(cfg, progress=say)
    files: dict[str, int] = {}
    say("writing hris_roster.csv")
    files["hris_roster.csv"] = _write_roster(sim, out)
    say("writing timesheets.csv")
    files["timesheets.csv"] = _write_timesheets(sim, out)
    files["survey_items.csv"] = _write_items(out, cfg.extra_items)
    files["interventions.xlsx"] = _write_interventions(sim, out)
    survey_stats = []
    wide_sites = {0, 1}
    ext = cfg.survey_format
    for w in range(len(sim.quarter_labels)):
        sw = simulate_wave(sim, w)
        site = sim.team_site[sim.spell_team[sw.spell]]
        wide_sel = np.nonzero(np.isin(site, list(wide_sites)))[0]
        long_sel = np.nonzero(site == 2)[0]
        lab = sw.label
        stat = {
            "wave": lab,
            "invited": int(len(sw.invited)),
            "responses": int(len(sw.spell)),
            "answers": int((sw.answers >= 0).sum()),
        }
        if len(wide_sel):
            df = _wide_frame(sim, sw, wide_sel)
            name = f"surveys/pulse_{lab}_wide_en.{ext}"
            if ext == "csv":
                _write_wide_csv(df, out / name, cfg.extra_items)
            else:
                df.write_parquet(out / name, statistics=False)
            files[name] = df.height
        if len(long_sel):
            df = _long_frame(sim, sw, long_sel)
            name = f"surveys/pulse_{lab}_long_pl.{ext}"
            if ext == "csv":
                _write_long_csv(df, out / name)
            else:
                df.write_parquet(out / name, statistics=False)
            files[name] = df.height
        say(f"wave {lab}: {stat['responses']} responses of {stat['invited']} invited")
        survey_stats.append(stat)
        del sw
    say("writing ground truth")
    realised = realised_facts(sim)
    gt = _ground_truth(sim, realised, survey_stats, dict(sorted(files.items())))
    _write_bytes(out / "ground_truth.json", (json.dumps(gt, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    _write_bytes(out / "GROUND_TRUTH.md", _ground_truth_md(gt).encode("utf-8"))
    files["ground_truth.json"] = 1
    files["GROUND_TRUTH.md"] = 1
    return {
        "out_dir": str(out),
        "files": dict(sorted(files.items())),
        "people": realised["people"],
        "spells": realised["spells"],
        "survey_responses": _survey_total(survey_stats, "responses"),
        "survey_answers": _survey_total(survey_stats, "answers"),
    }


def _survey_total(stats: list[dict], key: str) -> int:
    return int(sum(s[key] for s in stats))


def build_arg_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Add the synth options to ``parser`` (or a new one); used by ``retain synth``."""
    d = SynthConfig()
    p = parser or argparse.ArgumentParser(prog="retain synth", description="Generate the synthetic demo organisation.")
    p.add_argument("--out", type=Path, default=Path("data/demo"), help="output directory (default data/demo)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--employees", type=int, default=d.employees, help="approx. distinct people over the window")
    p.add_argument("--teams", type=int, default=d.teams)
    p.add_argument("--start-quarter", default=d.start_quarter)
    p.add_argument("--quarters", type=int, default=d.quarters)
    p.add_argument("--survey-format", choices=("csv", "parquet"), default=d.survey_format)
    p.add_argument(
        "--extra-items", type=int, default=d.extra_items, metavar="K",
        help=f"extra Likert items Q22.. added to the survey, spread round-robin over the six drivers in DRIVERS "
        f"order ({', '.join(DRIVERS)}); for benchmarks (0..{MAX_EXTRA_ITEMS}, default {d.extra_items})",
    )  # fmt: skip
    p.add_argument(
        "--disable-programme", action="append", choices=PROGRAMME_TYPES, default=[], dest="disable_programmes",
        help="roll this programme type out as usual but without any effect (a placebo world); repeatable",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true")
    return p


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    return SynthConfig(
        seed=args.seed,
        employees=args.employees,
        teams=args.teams,
        start_quarter=args.start_quarter,
        quarters=args.quarters,
        survey_format=args.survey_format,
        disable_programmes=tuple(getattr(args, "disable_programmes", ())),
        extra_items=getattr(args, "extra_items", 0),
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry: ``python -m analysis.synth --out data/demo`` (same options as ``retain synth``)."""
    args = build_arg_parser().parse_args(argv)
    say = None if args.quiet else (lambda msg: print(msg, flush=True))
    summary = generate(config_from_args(args), args.out, progress=say)
    if not args.quiet:
        for name, rows in summary["files"].items():
            print(f"  {name}: {rows} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

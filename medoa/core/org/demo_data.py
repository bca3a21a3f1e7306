"""The demo hospital's fixed data: 示范市第一人民医院, its department tree, its named logins, and
the name and number pools the loader (``medoa.core.org.demo``) draws the other staff from.

Everything here is plain data; ``demo.py`` turns it into rows deterministically (fixed seed).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from .choices import DepartmentCategory as Cat
from .choices import DepartmentKind as Kind
from .choices import Gender, Title

HOSPITAL_NAME = "示范市第一人民医院"
SEED = 2026
# Ages, hire dates and national IDs are computed against this date so that the data is the same
# whenever it is loaded.
REFERENCE_DATE = datetime.date(2026, 1, 1)
FIRST_EMPLOYEE_NO = 10001
EMAIL_DOMAIN = "demo-hospital.example"
OFFICE_PHONE_PREFIX = "0571-8720"

# Who prints their TOTP secret at start (the three administrators, 三员).
TOTP_USERNAMES = ("admin", "secadmin", "auditor")

# Hospital-wide roles are assigned at the hospital (the tree's root); department roles at the
# person's department or ward.
HOSPITAL = "HOSP"


@dataclass(frozen=True)
class DepartmentSpec:
    """One node of the tree. ``staff`` is how many generated people of each kind work here (on top
    of the named logins); ``kind_of_staff``: doctor, nurse, office, tech, pharmacist, worker."""

    code: str
    name_zh: str
    name_en: str
    kind: str
    parent: str | None
    category: str = ""
    staff: tuple[tuple[str, int], ...] = ()
    office_role: str = ""  # the hospital-wide role of everyone working here (offices)
    position_head: str = ""  # the head's position (科主任, 处长, 护士长 …)


def _clinical(
    code: str, zh: str, en: str, doctors: int, wards: list[tuple[str, str, str, int]]
) -> list[DepartmentSpec]:
    specs = [
        DepartmentSpec(
            code, zh, en, Kind.DEPARTMENT, "CAT-CLIN", Cat.CLINICAL, (("doctor", doctors),), "", "科主任"
        )
    ]
    for wcode, wzh, wen, nurses in wards:
        kind = Kind.UNIT if wcode.endswith("-OR") else Kind.WARD
        specs.append(
            DepartmentSpec(wcode, wzh, wen, kind, code, Cat.CLINICAL, (("nurse", nurses),), "", "护士长")
        )
    return specs


def _office(
    code: str, zh: str, en: str, role: str, head: str, staff: int, parent: str = "CAT-FUNC"
) -> DepartmentSpec:
    category = Cat.LOGISTICS if parent == "CAT-LOG" else Cat.FUNCTIONAL
    return DepartmentSpec(code, zh, en, Kind.DEPARTMENT, parent, category, (("office", staff),), role, head)


def _tech(code: str, zh: str, en: str, staff: tuple[tuple[str, int], ...]) -> DepartmentSpec:
    return DepartmentSpec(code, zh, en, Kind.DEPARTMENT, "CAT-TECH", Cat.MEDICAL_TECH, staff, "", "科主任")


# Parents come before their children. "staff" counts are the generated people; the named logins
# (below) come on top. The counts give about 300 staff in all.
DEPARTMENTS: list[DepartmentSpec] = [
    DepartmentSpec(HOSPITAL, HOSPITAL_NAME, "Demo City First People's Hospital", Kind.HOSPITAL, None),
    DepartmentSpec("MAIN", "本部", "Main campus", Kind.CAMPUS, HOSPITAL),
    DepartmentSpec("CAT-LEAD", "院领导", "Hospital leadership", Kind.CATEGORY, "MAIN", Cat.LEADERSHIP),
    DepartmentSpec("CAT-CLIN", "临床科室", "Clinical departments", Kind.CATEGORY, "MAIN", Cat.CLINICAL),
    DepartmentSpec("CAT-TECH", "医技科室", "Medical technology", Kind.CATEGORY, "MAIN", Cat.MEDICAL_TECH),
    DepartmentSpec("CAT-FUNC", "职能部门", "Administrative offices", Kind.CATEGORY, "MAIN", Cat.FUNCTIONAL),
    DepartmentSpec("CAT-LOG", "后勤部门", "Logistics", Kind.CATEGORY, "MAIN", Cat.LOGISTICS),
    # leadership
    DepartmentSpec(
        "LEAD",
        "院领导班子",
        "Hospital leadership team",
        Kind.DEPARTMENT,
        "CAT-LEAD",
        Cat.LEADERSHIP,
        (("leader", 2),),
        "",
        "院长",
    ),
    # administrative offices (职能)
    _office("MED", "医务处", "Medical Affairs Office", "medical_affairs", "处长", 4),
    _office("NURS", "护理部", "Nursing Department", "nursing_dept", "主任", 3),
    _office("QC", "质控办", "Quality Control Office", "quality_office", "主任", 3),
    _office("EDU", "科教处", "Education and Research Office", "education_office", "处长", 3),
    _office("HR", "人事处", "Human Resources", "hr", "处长", 4),
    _office("FIN", "财务处", "Finance Office", "finance", "处长", 5),
    _office("EQUIP", "设备科", "Equipment Office", "equipment", "科长", 4),
    _office("IT", "信息中心", "IT Centre", "it", "主任", 3),
    # logistics (后勤)
    _office("LOGI", "后勤保障处", "Logistics Office", "logistics", "处长", 4, parent="CAT-LOG"),
    DepartmentSpec(
        "LOGI-CLEAN",
        "保洁组",
        "Housekeeping team",
        Kind.UNIT,
        "LOGI",
        Cat.LOGISTICS,
        (("worker", 9),),
        "housekeeping",
        "组长",
    ),
    # clinical (临床): department → wards
    *_clinical(
        "CARD",
        "心血管内科",
        "Cardiology",
        5,
        [
            ("CARD-W1", "心血管内科一病区", "Cardiology Ward 1", 0),
            ("CARD-W2", "心血管内科二病区", "Cardiology Ward 2", 8),
        ],
    ),
    *_clinical(
        "RESP", "呼吸内科", "Respiratory Medicine", 6, [("RESP-W1", "呼吸内科病区", "Respiratory Ward", 8)]
    ),
    *_clinical(
        "GAST", "消化内科", "Gastroenterology", 5, [("GAST-W1", "消化内科病区", "Gastroenterology Ward", 7)]
    ),
    *_clinical("NEUR", "神经内科", "Neurology", 5, [("NEUR-W1", "神经内科病区", "Neurology Ward", 7)]),
    *_clinical(
        "SURG",
        "普外科",
        "General Surgery",
        5,
        [
            ("SURG-W1", "普外科一病区", "General Surgery Ward 1", 8),
            ("SURG-W2", "普外科二病区", "General Surgery Ward 2", 7),
        ],
    ),
    *_clinical("ORTH", "骨科", "Orthopaedics", 5, [("ORTH-W1", "骨科病区", "Orthopaedics Ward", 7)]),
    *_clinical("UROL", "泌尿外科", "Urology", 4, [("UROL-W1", "泌尿外科病区", "Urology Ward", 6)]),
    *_clinical("PED", "儿科", "Paediatrics", 5, [("PED-W1", "儿科病区", "Paediatrics Ward", 7)]),
    *_clinical(
        "OBGY",
        "妇产科",
        "Obstetrics and Gynaecology",
        6,
        [
            ("OBGY-W1", "产科病区", "Obstetrics Ward", 7),
            ("OBGY-W2", "妇科病区", "Gynaecology Ward", 6),
        ],
    ),
    *_clinical(
        "EMER",
        "急诊科",
        "Emergency Department",
        6,
        [("EMER-W1", "急诊留观病区", "Emergency Observation Ward", 7)],
    ),
    *_clinical(
        "ICU",
        "重症医学科",
        "Critical Care Medicine",
        4,
        [("ICU-W1", "重症监护病区", "Intensive Care Unit", 10)],
    ),
    *_clinical("ANES", "麻醉科", "Anaesthesiology", 6, [("ANES-OR", "手术室", "Operating Theatres", 9)]),
    # medical technology (医技)
    _tech("LAB", "检验科", "Clinical Laboratory", (("tech", 7),)),
    _tech("RAD", "放射科", "Radiology", (("doctor", 3), ("tech", 3))),
    _tech("US", "超声科", "Ultrasound", (("doctor", 4),)),
    _tech("PHAR", "药剂科", "Pharmacy", (("pharmacist", 6),)),
    _tech("PATH", "病理科", "Pathology", (("doctor", 2), ("tech", 2))),
]

# The category and root heads (the "leader N levels up"): username of the head, by department code.
TREE_HEADS = {
    HOSPITAL: "dean",
    "MAIN": "dean",
    "CAT-LEAD": "dean",
    "LEAD": "dean",
    "CAT-CLIN": "vp_medical",
    "CAT-TECH": "vp_medical",
}
# The generated vice deans of 院领导班子, in order, and the categories they lead (by index).
LEADER_POSITIONS = ("分管行政后勤副院长", "分管科研教学副院长")
GENERATED_LEADER_HEADS = {"CAT-FUNC": 0, "CAT-LOG": 0}


@dataclass(frozen=True)
class NamedLogin:
    """A demo login with a fixed username. ``roles``: (role code, department code); hospital-wide
    roles sit at the hospital root. ``heads``: the departments this person leads."""

    username: str
    name: str
    gender: str
    department: str
    title: str
    position: str
    roles: tuple[tuple[str, str], ...]
    heads: tuple[str, ...] = ()
    nursing_level: str = ""
    age: int = 40
    label: str = ""  # what the login table says about this person (Chinese)


F, M = Gender.FEMALE, Gender.MALE
T = Title

NAMED_LOGINS: list[NamedLogin] = [
    NamedLogin(
        "admin",
        "周志刚",
        M,
        "IT",
        T.ADMINISTRATIVE,
        "系统管理员",
        (("sys_admin", HOSPITAL),),
        age=38,
        label="系统管理员",
    ),
    NamedLogin(
        "secadmin",
        "吴晓燕",
        F,
        "IT",
        T.ADMINISTRATIVE,
        "安全管理员",
        (("sec_admin", HOSPITAL),),
        age=35,
        label="安全管理员",
    ),
    NamedLogin(
        "auditor",
        "郑丽华",
        F,
        "IT",
        T.ADMINISTRATIVE,
        "审计管理员",
        (("audit_admin", HOSPITAL),),
        age=41,
        label="审计管理员",
    ),
    NamedLogin(
        "dean", "王建国", M, "LEAD", T.CHIEF_PHYSICIAN, "院长", (("dean", HOSPITAL),), age=56, label="院长"
    ),
    NamedLogin(
        "vp_medical",
        "李明华",
        M,
        "LEAD",
        T.CHIEF_PHYSICIAN,
        "分管医疗副院长",
        (("vice_dean", HOSPITAL),),
        age=52,
        label="分管医疗副院长",
    ),
    NamedLogin(
        "medaffairs",
        "张伟",
        M,
        "MED",
        T.ASSOC_CHIEF_PHYSICIAN,
        "医务处处长",
        (("medical_affairs", HOSPITAL), ("dept_head", "MED")),
        ("MED",),
        age=47,
        label="医务处处长",
    ),
    NamedLogin(
        "nursing",
        "刘秀英",
        F,
        "NURS",
        T.CHIEF_NURSE,
        "护理部主任",
        (("nursing_dept", HOSPITAL), ("dept_head", "NURS")),
        ("NURS",),
        "N4",
        age=51,
        label="护理部主任",
    ),
    NamedLogin(
        "quality",
        "陈静",
        F,
        "QC",
        T.ASSOC_CHIEF_PHYSICIAN,
        "质控办主任",
        (("quality_office", HOSPITAL), ("dept_head", "QC")),
        ("QC",),
        age=45,
        label="质控办主任",
    ),
    NamedLogin(
        "edu",
        "杨帆",
        M,
        "EDU",
        T.CHIEF_PHYSICIAN,
        "科教处处长",
        (("education_office", HOSPITAL), ("dept_head", "EDU")),
        ("EDU",),
        age=49,
        label="科教处处长",
    ),
    NamedLogin(
        "hr",
        "赵敏",
        F,
        "HR",
        T.ADMINISTRATIVE,
        "人事处处长",
        (("hr", HOSPITAL), ("dept_head", "HR")),
        ("HR",),
        age=46,
        label="人事处处长",
    ),
    NamedLogin(
        "finance",
        "黄丽",
        F,
        "FIN",
        T.ADMINISTRATIVE,
        "财务处处长",
        (("finance", HOSPITAL), ("dept_head", "FIN")),
        ("FIN",),
        age=48,
        label="财务处处长",
    ),
    NamedLogin(
        "equip",
        "孙强",
        M,
        "EQUIP",
        T.ADMINISTRATIVE,
        "设备科科长",
        (("equipment", HOSPITAL), ("dept_head", "EQUIP")),
        ("EQUIP",),
        age=44,
        label="设备科科长",
    ),
    NamedLogin(
        "it",
        "徐磊",
        M,
        "IT",
        T.ADMINISTRATIVE,
        "信息中心主任",
        (("it", HOSPITAL), ("dept_head", "IT")),
        ("IT",),
        age=42,
        label="信息中心主任",
    ),
    NamedLogin(
        "card_head",
        "林国栋",
        M,
        "CARD",
        T.CHIEF_PHYSICIAN,
        "科主任",
        (("dept_head", "CARD"), ("doctor", "CARD")),
        ("CARD",),
        age=53,
        label="心血管内科主任",
    ),
    NamedLogin(
        "card_doc1",
        "何俊",
        M,
        "CARD",
        T.ATTENDING,
        "主治医师",
        (("doctor", "CARD"),),
        age=36,
        label="心血管内科医生",
    ),
    NamedLogin(
        "card_doc2",
        "马婷",
        F,
        "CARD",
        T.RESIDENT,
        "住院医师",
        (("doctor", "CARD"),),
        age=29,
        label="心血管内科医生",
    ),
    NamedLogin(
        "card_hn",
        "罗佳",
        F,
        "CARD-W1",
        T.ASSOC_CHIEF_NURSE,
        "护士长",
        (("head_nurse", "CARD-W1"), ("nurse", "CARD-W1")),
        ("CARD-W1",),
        "N4",
        age=44,
        label="心血管内科护士长",
    ),
    NamedLogin(
        "surg_head",
        "郭海涛",
        M,
        "SURG",
        T.CHIEF_PHYSICIAN,
        "科主任",
        (("dept_head", "SURG"), ("doctor", "SURG")),
        ("SURG",),
        age=54,
        label="普外科主任",
    ),
    NamedLogin(
        "surg_doc1",
        "高鹏",
        M,
        "SURG",
        T.ATTENDING,
        "主治医师",
        (("doctor", "SURG"),),
        age=35,
        label="普外科医生",
    ),
    NamedLogin(
        "icu_head",
        "谢振华",
        M,
        "ICU",
        T.CHIEF_PHYSICIAN,
        "科主任",
        (("dept_head", "ICU"), ("doctor", "ICU")),
        ("ICU",),
        age=50,
        label="重症医学科主任",
    ),
    NamedLogin(
        "icu_doc1",
        "宋雪",
        F,
        "ICU",
        T.ATTENDING,
        "主治医师",
        (("doctor", "ICU"),),
        age=34,
        label="重症医学科医生",
    ),
    NamedLogin(
        "cleaner1",
        "韩桂兰",
        F,
        "LOGI-CLEAN",
        T.WORKER,
        "保洁员",
        (("housekeeping", HOSPITAL),),
        age=48,
        label="保洁员",
    ),
    NamedLogin(
        "cleaner2",
        "冯建军",
        M,
        "LOGI-CLEAN",
        T.WORKER,
        "保洁员",
        (("housekeeping", HOSPITAL),),
        age=51,
        label="保洁员",
    ),
]

# card_n01 … card_n20: the nurses of 心血管内科一病区, names drawn like everyone else's.
CARD_NURSE_COUNT = 20
CARD_NURSE_WARD = "CARD-W1"


def card_nurse_username(i: int) -> str:
    return f"card_n{i:02d}"


# --- pools -----------------------------------------------------------------------------------------
# Common surnames, roughly by frequency (more frequent ones appear twice).
SURNAMES = (
    "王王李李张张刘刘陈陈杨杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
)
GIVEN_MALE = (
    "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆旭宁龙林峰建国志文东亮海成振晨博昊睿泽然毅彬诚"
)
GIVEN_FEMALE = "芳娜敏静秀丽艳娟霞燕玲婷雪琳晶颖慧倩洁佳丹萍红梅蕾莉欣怡璐瑶琪悦雯菲妍薇蓉岚婧媛楠瑾"
GIVEN_NEUTRAL = "文华明宁清安嘉思子雨晓春秋一心"

# Residence codes (行政区划代码) for the first six digits of the generated national IDs.
AREA_CODES = (
    "330102",
    "330105",
    "330106",
    "330108",
    "330110",
    "330182",
    "330203",
    "330302",
    "330402",
    "330521",
    "330602",
    "330681",
    "320102",
    "320506",
    "340104",
    "360102",
    "110105",
    "310115",
)
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "177",
    "180",
    "181",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "198",
    "199",
)


@dataclass(frozen=True)
class StaffKind:
    """How the generator makes one kind of staff: titles by seniority (with weights and ages),
    the share of women, the age at hire, the role, and the position text."""

    titles: tuple[tuple[str, int, int, int], ...]  # (title, weight, min age, max age)
    female_share: float
    hire_age: int
    role: str = ""
    position: str = ""
    positions: dict[str, str] = field(default_factory=dict)


STAFF_KINDS: dict[str, StaffKind] = {
    "doctor": StaffKind(
        titles=(
            (T.CHIEF_PHYSICIAN, 1, 47, 58),
            (T.ASSOC_CHIEF_PHYSICIAN, 2, 40, 52),
            (T.ATTENDING, 3, 32, 43),
            (T.RESIDENT, 3, 25, 32),
        ),
        female_share=0.45,
        hire_age=26,
        role="doctor",
        positions={
            T.CHIEF_PHYSICIAN: "主任医师",
            T.ASSOC_CHIEF_PHYSICIAN: "副主任医师",
            T.ATTENDING: "主治医师",
            T.RESIDENT: "住院医师",
        },
    ),
    "nurse": StaffKind(
        titles=(
            (T.ASSOC_CHIEF_NURSE, 1, 42, 54),
            (T.SUPERVISOR_NURSE, 3, 32, 46),
            (T.NURSE_PRACTITIONER, 4, 26, 36),
            (T.NURSE, 4, 21, 27),
        ),
        female_share=0.93,
        hire_age=21,
        role="nurse",
        position="护士",
    ),
    "office": StaffKind(
        titles=((T.ADMINISTRATIVE, 1, 25, 55),),
        female_share=0.55,
        hire_age=24,
        position="科员",
    ),
    "leader": StaffKind(
        titles=((T.CHIEF_PHYSICIAN, 1, 50, 58),),
        female_share=0.3,
        hire_age=26,
        role="vice_dean",
        position="副院长",
    ),
    "tech": StaffKind(
        titles=(
            (T.CHIEF_TECHNICIAN, 1, 45, 56),
            (T.SUPERVISOR_TECHNICIAN, 2, 33, 48),
            (T.TECHNICIAN, 3, 23, 35),
        ),
        female_share=0.6,
        hire_age=23,
        position="技师",
    ),
    "pharmacist": StaffKind(
        titles=((T.PHARMACIST, 1, 24, 55),),
        female_share=0.65,
        hire_age=23,
        position="药师",
    ),
    "worker": StaffKind(
        titles=((T.WORKER, 1, 38, 58),),
        female_share=0.7,
        hire_age=35,
        position="保洁员",
    ),
}

# Head titles by the department's main staff kind (the head is generated when no named login leads).
HEAD_TITLES = {
    "doctor": T.CHIEF_PHYSICIAN,
    "nurse": T.ASSOC_CHIEF_NURSE,
    "office": T.ADMINISTRATIVE,
    "tech": T.CHIEF_TECHNICIAN,
    "pharmacist": T.PHARMACIST,
    "worker": T.WORKER,
}
